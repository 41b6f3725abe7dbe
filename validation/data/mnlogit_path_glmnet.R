# Reference paths of the penalized multinomial logit from R glmnet
# (family = "multinomial"), for validation/validate_mnlogit_path.py.
# Run from the repository root:  Rscript validation/data/mnlogit_path_glmnet.R
# Writes validation/data/mnlogit_path_glmnet.json (coefficients on the original
# scale, all J categories: glmnet's symmetric parameterization).
# thresh = 1e-22: at glmnet's 1e-14 its grouped coefficients still move by ~1e-5
# (checked: a0[1, 30] of sim_grouped_lasso changes by 9e-6 from 1e-14 to 1e-18).
# fishing: ppier equals pbeach in every row (the same price), so it is left out.
suppressPackageStartupMessages({library(glmnet); library(jsonlite)})

sim <- read.csv("validation/data/mnlogit_path_sim.csv")
fish <- read.csv(gzfile("econderiv/datasets/data/fishing.csv.gz"))
fish_x <- as.matrix(cbind(fish[, c("pbeach", "pboat", "pcharter", "cbeach",
                                   "cpier", "cboat", "ccharter")],
                          income = fish$income / 1000))
fish_y <- factor(fish$mode)          # beach, boat, charter, pier (sorted)
sim_x <- as.matrix(sim[, -1])
sim_y <- factor(sim$y)
p <- ncol(sim_x)
# penalty factors summing to the number of regressors, so glmnet's internal
# rescaling (to sum nvars) leaves them as given; one regressor unpenalized
pf <- rep(c(0.5, 1.5), length.out = p); pf[2] <- 0; pf <- pf * p / sum(pf)

configs <- list(
  list(name = "sim_grouped_lasso", data = "sim", type = "grouped", alpha = 1, standardize = TRUE, pf = NULL),
  list(name = "sim_ungrouped_lasso", data = "sim", type = "ungrouped", alpha = 1, standardize = TRUE, pf = NULL),
  list(name = "sim_grouped_enet_pf", data = "sim", type = "grouped", alpha = 0.5, standardize = TRUE, pf = pf),
  list(name = "sim_ungrouped_enet_raw", data = "sim", type = "ungrouped", alpha = 0.5, standardize = FALSE, pf = NULL),
  list(name = "fishing_grouped_lasso", data = "fishing", type = "grouped", alpha = 1, standardize = TRUE, pf = NULL),
  list(name = "fishing_ungrouped_enet", data = "fishing", type = "ungrouped", alpha = 0.3, standardize = TRUE, pf = NULL)
)

out <- list(glmnet_version = as.character(packageVersion("glmnet")),
            R_version = R.version.string, runs = list())
for (cf in configs) {
  x <- if (cf$data == "sim") sim_x else fish_x
  y <- if (cf$data == "sim") sim_y else fish_y
  pfac <- if (is.null(cf$pf)) rep(1, ncol(x)) else cf$pf
  fit <- glmnet(x, y, family = "multinomial", type.multinomial = cf$type,
                alpha = cf$alpha, standardize = cf$standardize, penalty.factor = pfac,
                nlambda = 30, lambda.min.ratio = 0.02, thresh = 1e-22, maxit = 1e8)
  L <- length(fit$lambda)
  J <- length(fit$beta)
  coefs <- array(0, dim = c(L, ncol(x) + 1, J))   # [lambda, (intercept, x...), category]
  for (j in seq_len(J)) {
    coefs[, 1, j] <- fit$a0[j, ]
    coefs[, -1, j] <- t(as.matrix(fit$beta[[j]]))
  }
  out$runs[[cf$name]] <- list(
    data = cf$data, type = cf$type, alpha = cf$alpha, standardize = cf$standardize,
    penalty_factor = pfac, lambda = fit$lambda, dev_ratio = fit$dev.ratio,
    nulldev = fit$nulldev, df = fit$df, categories = levels(y),
    regressors = colnames(x), coef = coefs, npasses = fit$npasses)
}
write(toJSON(out, digits = NA, auto_unbox = TRUE), "validation/data/mnlogit_path_glmnet.json")
