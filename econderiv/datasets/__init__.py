"""Public data sets bundled with econderiv.

Each data set is a function returning a fresh :class:`pandas.DataFrame`;
its docstring gives the source. ``load(name)`` dispatches by name and
``names()`` lists what is available.

>>> from econderiv import datasets
>>> datasets.names()[:2]
['fishing', 'k401ksubs']
>>> df = datasets.load("mroz87")
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd

__all__ = [
    "load",
    "names",
    "describe",
    "fishing",
    "k401ksubs",
    "mroz",
    "mroz87",
    "randhie",
    "us_population",
    "womenlf",
    "lynx_hare",
    "simulate_motor",
]


def _read(filename: str) -> pd.DataFrame:
    path = resources.files(__package__).joinpath("data", filename)
    with resources.as_file(path) as p:
        return pd.read_csv(p)


def mroz87() -> pd.DataFrame:
    """Mroz (1987) married women's labour supply, 753 rows.

    Source: T. A. Mroz (1987), "The sensitivity of an empirical model of
    married women's hours of work to economic and statistical assumptions",
    Econometrica 55(4), 765-799; as distributed with the R package
    sampleSelection (``Mroz87``). Used for Greene, Econometric Analysis
    (5th ed., 2002), Example 22.8 (Heckman two-step and ML wage equation).
    Columns include ``lfp`` (in the labour force), ``wage``, ``kids5``,
    ``kids618``, ``age``, ``educ``, ``faminc``, ``exper``, ``city``.
    """
    return _read("mroz87.csv.gz")


def mroz() -> pd.DataFrame:
    """Mroz (1987) data as distributed with Wooldridge, 753 rows.

    Source: Wooldridge, Introductory Econometrics (data set ``mroz``).
    Used for Wooldridge's Example 17.5 (heckit for log wage). Columns include
    ``inlf``, ``lwage``, ``educ``, ``exper``, ``expersq``, ``nwifeinc``,
    ``age``, ``kidslt6``, ``kidsge6``.
    """
    return _read("mroz.csv.gz")


def randhie() -> pd.DataFrame:
    """RAND Health Insurance Experiment, 20,190 rows.

    Source: RAND HIE as distributed with the R package sampleSelection
    (``RandHIE``). Cameron and Trivedi, Microeconometrics (2005), Table 16.1
    use the subsample ``year == 2`` with ``educdec`` present (5,574 rows):
    selection ``binexp``, outcome ``lnmeddol``.
    """
    return _read("randhie.csv.gz")


def womenlf() -> pd.DataFrame:
    """Canadian women's labour-force participation, 263 rows.

    Source: J. Fox, carData ``Womenlf`` (Social Change in Canada Project,
    1977). ``partic`` is ``not.work``, ``parttime`` or ``fulltime``;
    ``hincome`` husband's income ($1000s), ``children``, ``region``.
    """
    return _read("womenlf.csv.gz")


def fishing() -> pd.DataFrame:
    """Recreational fishing mode choice, 1,182 rows.

    Source: Herriges and Kling (1999), "Nonlinear income effects in random
    utility models", Review of Economics and Statistics 81(1); as in the R
    package Ecdat (``Fishing``). ``mode`` is beach, pier, boat or charter;
    ``income`` is monthly income in raw dollars (not rescaled).
    """
    return _read("fishing.csv.gz")


def k401ksubs() -> pd.DataFrame:
    """401(k) eligibility and participation, 9,275 rows.

    Source: Wooldridge, Introductory Econometrics (data set ``k401ksubs``),
    from Abadie (2003). ``pira`` (has an IRA), ``p401k`` (participates in a
    401(k)), ``inc``, ``incsq``, ``age``, ``agesq``, ``marr``, ``fsize``.
    """
    return _read("k401ksubs.csv.gz")


def us_population() -> pd.DataFrame:
    """US decennial census counts, continental United States, 1790-1950.

    Source: US Census Bureau. Pearl and Reed (1920), PNAS 6:275, fitted the
    logistic curve to 1790-1910 (upper asymptote about 197.27 million, rate
    about 0.0313 per year, inflection near 1914). Columns ``year``,
    ``population`` (persons).
    """
    return _read("us_population.csv")


def lynx_hare() -> pd.DataFrame:
    """Hudson's Bay Company hare and lynx pelts, 1900-1920, 21 rows.

    Columns ``year``, ``hare``, ``lynx`` (thousands of pelts). Source: the
    file ``hudson-bay-lynx-hare.csv`` of the Stan case study "Predator-Prey
    Population Dynamics: the Lotka-Volterra model in Stan" (B. Carpenter,
    2018; stan-dev/example-models, knitr/lotka-volterra), which took the
    numbers from P. Howard's (2009) modelling notes, traced to J. M. Mahaffy's
    lecture notes and Purves et al., *Life: The Science of Biology*. The case
    study's Lotka-Volterra fit (lognormal measurement error, posterior means)
    is alpha 0.55, beta 0.028, gamma 0.80, delta 0.024, sigma 0.25 for both.
    """
    return _read("lynx_hare.csv")


def simulate_motor(n: int = 4000, fs: float = 200.0, a: float = -4.0, b: float = 10.0,
                   g: float = -2.0, noise_sd: float = 2e-3, x0=(0.3, 0.5),
                   seed=None) -> pd.DataFrame:
    """Simulated DC motor ``x'' = a x' + b u + g`` sampled with noise.

    The voltage ``u`` is a sequence of random steps, each held for a
    duration drawn uniformly from 0.4 to 1.2 s, with level uniform on
    (-1, 1). The state (position, velocity) is propagated exactly between
    samples (zero-order hold: the block matrix exponential of
    ``[[0, 1, 0, 0], [0, a, b, g], 0, 0]`` times the step), and white
    Gaussian noise of standard deviation ``noise_sd`` is added to the
    position. Nothing here uses econderiv's estimation kernels, so the data
    can test them.

    Parameters
    ----------
    n, fs : sample count and sampling rate (Hz).
    a, b, g : true coefficients.
    noise_sd : position noise standard deviation.
    x0 : (position, velocity) at t = 0, or ``None`` to draw both uniformly
        on (-1, 1).
    seed : int, numpy Generator or None.
        Random draws are made in this order: input steps, initial state (if
        drawn), noise.

    Returns
    -------
    DataFrame with columns ``t``, ``x`` (noisy position), ``u``,
    ``x_true`` and ``v_true`` (the noise-free state).
    """
    from scipy.linalg import expm

    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    h = 1.0 / fs
    t = np.arange(n) * h
    u = np.empty(n)
    i = 0
    while i < n:
        hold = int(round(rng.uniform(0.4, 1.2) * fs))
        u[i:i + hold] = rng.uniform(-1, 1)
        i += hold
    E = expm(np.array([[0, 1, 0, 0], [0, a, b, g], [0, 0, 0, 0], [0, 0, 0, 0.0]]) * h)
    s = np.zeros((n, 2))
    s[0] = (rng.uniform(-1, 1), rng.uniform(-1, 1)) if x0 is None else x0
    for k in range(n - 1):
        s[k + 1] = E[:2, :2] @ s[k] + E[:2, 2] * u[k] + E[:2, 3]
    x = s[:, 0] + noise_sd * rng.standard_normal(n)
    return pd.DataFrame({"t": t, "x": x, "u": u, "x_true": s[:, 0], "v_true": s[:, 1]})


_LOADERS = {
    f.__name__: f
    for f in (fishing, k401ksubs, lynx_hare, mroz, mroz87, randhie, us_population, womenlf)
}


def names() -> list[str]:
    """Names of the bundled data sets, sorted."""
    return sorted(_LOADERS)


def describe(name: str) -> str:
    """The docstring (source and description) of data set ``name``."""
    return _loader(name).__doc__ or ""


def load(name: str) -> pd.DataFrame:
    """Load bundled data set ``name`` as a DataFrame (see :func:`names`)."""
    return _loader(name)()


def _loader(name: str):
    try:
        return _LOADERS[name]
    except KeyError:
        raise ValueError(
            f"unknown data set {name!r}; available: {', '.join(names())}"
        ) from None
