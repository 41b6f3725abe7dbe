# Regenerates the simulated tobit-5 data sets of R sampleSelection's tests and
# vignette (base R + mvtnorm only; sampleSelection itself is not needed).
# Sources: sampleSelection tests/selection.R lines 10-33 (Tobit-5 example);
# inst/doc/selection.R code chunks 11, 13, 14 (vignette selection.Rnw 849-860, 886-897,
# t5chi_woER). Run: Rscript validation/data/switching_sampleselection.R
library(mvtnorm)
out <- if (length(commandArgs(TRUE))) commandArgs(TRUE)[1] else "validation/data"
# --- tests/selection.R ---
N <- 1500; NNA <- 5
vc <- diag(3); vc[lower.tri(vc)] <- c(0.9, 0.5, 0.6); vc[upper.tri(vc)] <- vc[lower.tri(vc)]
suppressWarnings(RNGversion("3.5.0"))
set.seed(1)
eps <- rmvnorm(N, rep(0, 3), vc)
t5Dat <- data.frame(xs = runif(N))
t5Dat$ys <- t5Dat$xs + eps[,1] > 0
t5Dat$xo1 <- runif(N)
t5Dat$yo1 <- t5Dat$xo1 + eps[,2]
t5Dat$xo2 <- runif(N)
t5Dat$yo2 <- t5Dat$xo2 + eps[,3]
t5Dat$ys[sample(N, NNA)] <- NA
t5Dat$xs[sample(N, NNA)] <- NA
t5Dat$xo1[sample(N, NNA)] <- NA
t5Dat$xo2[sample(N, NNA)] <- NA
t5Dat$yo1[sample(N, NNA)] <- NA
t5Dat$yo2[sample(N, NNA)] <- NA
t5Dat$ys <- as.integer(t5Dat$ys)
write.csv(t5Dat, file.path(out, "sampleselection_tests_tobit5.csv"), row.names = FALSE,
          na = "")
# --- vignette chunk 11 (normal errors) ---
RNGkind("default", "default", "default")
set.seed(0)
vc <- diag(3); vc[lower.tri(vc)] <- c(0.9, 0.5, 0.1); vc[upper.tri(vc)] <- vc[lower.tri(vc)]
eps <- rmvnorm(500, c(0,0,0), vc)
xs <- runif(500); ys <- xs + eps[,1] > 0
xo1 <- runif(500); yo1 <- xo1 + eps[,2]
xo2 <- runif(500); yo2 <- xo2 + eps[,3]
write.csv(data.frame(xs, ys = as.integer(ys), xo1, yo1, xo2, yo2),
          file.path(out, "sampleselection_vignette_tobit5_normal.csv"), row.names = FALSE)
# --- vignette chunk 13 (chi-squared errors: misspecified) ---
set.seed(5)
eps <- rmvnorm(1000, rep(0, 3), vc)
eps <- eps^2 - 1
xs <- runif(1000, -1, 0); ys <- xs + eps[,1] > 0
xo1 <- runif(1000); yo1 <- xo1 + eps[,2]
xo2 <- runif(1000); yo2 <- xo2 + eps[,3]
write.csv(data.frame(xs, ys = as.integer(ys), xo1, yo1, xo2, yo2),
          file.path(out, "sampleselection_vignette_tobit5_chisq.csv"), row.names = FALSE)
# --- vignette chunk 14 (no exclusion restriction; reuses eps of chunk 13) ---
set.seed(6)
xs <- runif(1000, -1, 1); ys <- xs + eps[,1] > 0
yo1 <- xs + eps[,2]; yo2 <- xs + eps[,3]
write.csv(data.frame(xs, ys = as.integer(ys), yo1, yo2),
          file.path(out, "sampleselection_vignette_tobit5_noexcl.csv"), row.names = FALSE)
cat(R.version.string, "mvtnorm", as.character(packageVersion("mvtnorm")), "\n")
