# Times Genz's bivariate normal Fortran (R package pbivnorm) on points written
# by benchmarks/bench_special.py; run as
#
#     Rscript benchmarks/r_pbivnorm.R IN OUT REPEAT
#
# IN holds n, then a[1:n], b[1:n], rho[1:n] as little-endian float64. The
# script writes pbivnorm's values to OUT (float64) and prints two lines
#
#     pbivnorm <best wall s> <best cpu s>
#     fortran <best wall s> <best cpu s>
#
# "pbivnorm" is the R function as users call it (argument checks, Inf
# replacement, .Fortran call); "fortran" is the bare .Fortran("PBIVNORM")
# call of the same compiled routine, i.e. the Fortran alone. CPU time is
# user + system time of this process (less disturbed by other load than
# wall time on a shared machine).
suppressPackageStartupMessages(library(pbivnorm))
args <- commandArgs(trailingOnly = TRUE)
con <- file(args[1], "rb")
n <- as.integer(readBin(con, "double", 1L, size = 8L, endian = "little"))
a <- readBin(con, "double", n, size = 8L, endian = "little")
b <- readBin(con, "double", n, size = 8L, endian = "little")
rho <- readBin(con, "double", n, size = 8L, endian = "little")
close(con)
repeats <- as.integer(args[3])

best <- function(f) {
  wall <- Inf
  cpu <- Inf
  for (i in seq_len(repeats)) {
    t0 <- proc.time()
    f()
    dt <- proc.time() - t0
    wall <- min(wall, dt[["elapsed"]])
    cpu <- min(cpu, dt[["user.self"]] + dt[["sys.self"]])
  }
  c(wall, cpu)
}

lower <- as.double(c(0, 0))
infin <- as.integer(c(0, 0))
lt <- as.integer(n)
bare <- function() .Fortran("PBIVNORM", double(n), lower, a, b, infin, rho, lt,
                            PACKAGE = "pbivnorm")[[1]]
p <- pbivnorm(a, b, rho)  # warm-up; also the values written back
invisible(bare())
t_user <- best(function() pbivnorm(a, b, rho))
t_bare <- best(bare)
writeBin(as.double(p), args[2], size = 8L, endian = "little")
cat(sprintf("pbivnorm %.9g %.9g\n", t_user[1], t_user[2]))
cat(sprintf("fortran %.9g %.9g\n", t_bare[1], t_bare[2]))
