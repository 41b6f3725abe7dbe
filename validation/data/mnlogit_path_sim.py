"""Write the simulated data of the penalized multinomial logit validation
(validation/data/mnlogit_path_sim.csv): n = 500, 30 correlated regressors
(AR(1) correlation 0.5, scales 0.5 to 5, nonzero means), 4 categories, 5
regressors with nonzero coefficients. Run once; the R script
mnlogit_path_glmnet.R reads the csv."""

from pathlib import Path

import numpy as np
import pandas as pd

rng = np.random.default_rng(20261128)
n, p, J = 500, 30, 4
cor = 0.5 ** np.abs(np.subtract.outer(np.arange(p), np.arange(p)))
z = rng.standard_normal((n, p)) @ np.linalg.cholesky(cor).T
x = z * np.linspace(0.5, 5.0, p) + np.linspace(-2.0, 2.0, p)
beta = np.zeros((p, J))
beta[[0, 3, 7, 12, 20]] = rng.standard_normal((5, J)) * 0.8
eta = ((x - x.mean(0)) / x.std(0)) @ beta + np.array([0.0, 0.3, -0.2, 0.5])
prob = np.exp(eta - eta.max(1, keepdims=True))
prob /= prob.sum(1, keepdims=True)
y = (prob.cumsum(1) > rng.uniform(size=(n, 1))).argmax(1)
df = pd.DataFrame(x, columns=[f"x{k + 1}" for k in range(p)])
df.insert(0, "y", y)
df.to_csv(Path(__file__).with_name("mnlogit_path_sim.csv"), index=False, float_format="%.17g")
