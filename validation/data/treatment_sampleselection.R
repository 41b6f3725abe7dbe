# Data and reference numbers for validation/validate_treatment.py (EndogenousTreatment).
#
# 1. treatreg_vignette.csv.gz: the simulated data of R sampleSelection's vignette
#    "Treatment Effects with Normal Disturbances in sampleSelection Package"
#    (inst/doc/treatReg.Rnw, chunk generate_data, after set.seed(0) in the
#    set-up chunk), regenerated with base R + mvtnorm. The vignette's printed
#    OLS fit (treatReg.pdf p. 5) is reproduced to every digit, which shows the
#    draws are the vignette's.
# 2. ecdat_treatment.csv.gz: data set Treatment of the R package Ecdat 0.4.7
#    (data/Treatment.rda; LaLonde 1986, Dehejia and Wahba 1999), converted to CSV
#    unchanged (logicals as TRUE/FALSE). Used by the vignette's section 3.2.
# 3. treatreg_reference.json (optional, needs sampleSelection installed, e.g. from
#    its CRAN source): the vignette's three treatReg fits at full precision
#    (coefficients, standard errors, log-likelihood), for the unit tests. The
#    validation compares with the digits printed in the vignette's PDF instead.
#
# Run from the repository root: Rscript validation/data/treatment_sampleselection.R [Ecdat Treatment.rda]
out <- "validation/data"
args <- commandArgs(TRUE)
set.seed(0)
N <- 2000
sigma <- 1
rho <- 0.8
Sigma <- matrix(c(1, rho*sigma, rho*sigma, sigma^2), 2, 2)
uv <- mvtnorm::rmvnorm(N, mean=c(0,0), sigma=Sigma)
u <- uv[,1]
v <- uv[,2]
x <- rnorm(N)
z <- rnorm(N)
ySX <- -1 + x + z + u
yS <- ySX > 0
yO <- x + yS + v
dat <- data.frame(yO, yS, x, z)
print(coef(summary(lm(yO ~ x + yS, data=dat))))  # vignette p. 5: -0.25460, 0.81027, 1.92569
write.csv(dat, gzfile(file.path(out, "treatreg_vignette.csv.gz")), row.names=FALSE)
if (length(args) >= 1) {
  load(args[1])
  write.csv(Treatment, gzfile(file.path(out, "ecdat_treatment.csv.gz")), row.names=FALSE)
}
if (requireNamespace("sampleSelection", quietly=TRUE) && exists("Treatment")) {
  library(sampleSelection)
  one <- function(m) list(coef=as.list(coef(m)), se=as.list(sqrt(diag(vcov(m)))),
                          loglik=as.numeric(logLik(m)))
  tm <- treatReg(yS ~ x + z, yO ~ x + yS, data=dat)
  er <- treatReg(treat~poly(age,2) + educ + u74 + u75 + ethn,
                 log(re78)~treat + poly(age,2) + educ + ethn, data=Treatment)
  noer <- treatReg(treat~poly(age,2) + educ + u74 + u75 + ethn,
                   log(re78)~treat + poly(age,2) + educ + u74 + u75 + ethn, data=Treatment)
  ref <- list(version=as.character(packageVersion("sampleSelection")),
              vignette_simulated=one(tm), ecdat_exclusion=one(er), ecdat_no_exclusion=one(noer))
  writeLines(jsonlite::toJSON(ref, digits=15, auto_unbox=TRUE, pretty=TRUE),
             file.path(out, "treatreg_reference.json"))
}
