# Reference numbers for validation/validate_weights.py: weighted fits in R.
#
#   Rscript validation/data/weights_reference.R   (from the repository root)
#
# writes validation/data/weights_reference.csv. Needs R with sampleSelection
# (1.2-12), VGAM and nnet. The weights are chosen here, deterministic functions
# of the row number, so that the Python side rebuilds them exactly:
#   w_freq = 1 + (i mod 3)                 (i = 0, 1, ... the row number)
#   w_imp  = 0.5 + ((7 i) mod 11) / 10
suppressPackageStartupMessages({
  library(sampleSelection); library(VGAM); library(nnet)
})
out <- list()
add <- function(model, weights, term, what, value) {
  out[[length(out) + 1]] <<- data.frame(model = model, weights = weights, term = term,
                                        what = what, value = sprintf("%.12g", value))
}
read_gz <- function(f) read.csv(gzfile(file.path("econderiv/datasets/data", f)))
wf <- function(n) 1 + (seq_len(n) - 1) %% 3
wi <- function(n) 0.5 + ((7 * (seq_len(n) - 1)) %% 11) / 10

# 1. sampleSelection: Heckman ML on Mroz87 (Greene's wage equation), weighted
m <- read_gz("mroz87.csv.gz")
m$kids <- as.numeric(m$kids5 + m$kids618 > 0)
for (wname in c("freq", "imp")) {
  m$w <- if (wname == "freq") wf(nrow(m)) else wi(nrow(m))
  fit <- selection(lfp ~ age + I(age^2) + faminc + kids + educ,
                   wage ~ exper + I(exper^2) + educ + city, data = m, method = "ml",
                   weights = m$w, iterlim = 500, tol = 1e-12, reltol = 1e-14)
  cf <- coef(summary(fit))  # selection, outcome, sigma, rho: terms repeat, so number them
  for (i in seq_len(nrow(cf))) {
    t <- sprintf("%d:%s", i, rownames(cf)[i])
    add("heckman_ml", wname, t, "coef", cf[i, 1]); add("heckman_ml", wname, t, "se", cf[i, 2])
  }
  add("heckman_ml", wname, "", "llf", as.numeric(logLik(fit)))
}

# 2. VGAM: bivariate probit (binom2.rho) on k401ksubs, weighted; Fisher scoring,
#    standard errors from the expected information
k <- read_gz("k401ksubs.csv.gz")
for (wname in c("freq", "imp")) {
  k$w <- if (wname == "freq") wf(nrow(k)) else wi(nrow(k))
  fit <- vglm(cbind(pira, p401k) ~ inc + incsq + age + agesq + marr + fsize,
              binom2.rho, data = k, weights = w, epsilon = 1e-12, maxit = 200)
  cf <- coef(summary(fit))
  for (t in rownames(cf)) {
    add("biprobit", wname, t, "coef", cf[t, 1]); add("biprobit", wname, t, "se", cf[t, 2])
  }
  add("biprobit", wname, "", "llf", as.numeric(logLik(fit)))
}

# 3. nnet: multinomial logit on the fishing data, weighted
f <- read_gz("fishing.csv.gz")
for (wname in c("freq", "imp")) {
  f$w <- if (wname == "freq") wf(nrow(f)) else wi(nrow(f))
  fit <- multinom(factor(mode) ~ income, data = f, weights = w, Hess = TRUE,
                  reltol = 1e-14, abstol = 1e-20, maxit = 1000, trace = FALSE)
  cf <- coef(fit); se <- sqrt(diag(solve(fit$Hessian)))
  for (j in rownames(cf)) for (t in colnames(cf)) {
    add("mnlogit", wname, paste(j, t, sep = ":"), "coef", cf[j, t])
    add("mnlogit", wname, paste(j, t, sep = ":"), "se", se[paste(j, t, sep = ":")])
  }
  add("mnlogit", wname, "", "llf", as.numeric(logLik(fit)))
}
write.csv(do.call(rbind, out), "validation/data/weights_reference.csv", row.names = FALSE)
cat("wrote validation/data/weights_reference.csv\n")
