# Reference fits of McFadden's conditional logit on the Fishing data
# (Herriges and Kling 1999; Cameron and Trivedi 2005, Table 15.2) with R's
# survival::clogit (a conditional logit is the Cox model stratified by case
# with one event per stratum; Stata's clogit/asclogit give the same fit).
# Writes validation/data/choicelogit_clogit.csv, read by
# validation/validate_choicelogit.py. Run from the repository root:
#   Rscript validation/data/choicelogit_clogit.R
library(survival)
wide <- read.csv(gzfile("econderiv/datasets/data/fishing.csv.gz"))
alts <- c("beach", "pier", "boat", "charter")
n <- nrow(wide)
long <- do.call(rbind, lapply(alts, function(a) data.frame(
  id = seq_len(n), alt = a, d = as.integer(wide$mode == a),
  price = wide[[paste0("p", a)]], catch = wide[[paste0("c", a)]],
  income = wide$income)))
long <- long[order(long$id, match(long$alt, alts)), ]
for (a in c("boat", "charter", "pier")) {   # base: beach
  long[[paste0("asc_", a)]] <- as.numeric(long$alt == a)
  long[[paste0("inc_", a)]] <- long$income * (long$alt == a)
  long[[paste0("inck_", a)]] <- long$income / 1000 * (long$alt == a)
}
ctl <- coxph.control(eps = 1e-14, iter.max = 200, toler.chol = 1e-15)
specs <- list(
  CL = d ~ price + catch + strata(id),
  MNL = d ~ asc_boat + inck_boat + asc_charter + inck_charter + asc_pier + inck_pier +
    strata(id),
  Mixed = d ~ price + catch + asc_boat + inc_boat + asc_charter + inc_charter + asc_pier +
    inc_pier + strata(id))
out <- NULL
for (s in names(specs)) {
  f <- clogit(specs[[s]], data = long, method = "exact", control = ctl)
  out <- rbind(out, data.frame(spec = s, term = names(coef(f)), estimate = unname(coef(f)),
                               se = unname(sqrt(diag(vcov(f)))),
                               loglik = f$loglik[2], iterations = f$iter))
}
out$term <- sub("^asc_(.*)$", "\\1:Intercept", out$term)
out$term <- sub("^inck_(.*)$", "\\1:I(income / 1000)", out$term)
out$term <- sub("^inc_(.*)$", "\\1:income", out$term)
write.csv(format(out, digits = 15), "validation/data/choicelogit_clogit.csv", row.names = FALSE,
          quote = FALSE)
cat(R.version.string, "survival", as.character(packageVersion("survival")), "\n")
