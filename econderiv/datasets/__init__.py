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


_LOADERS = {
    f.__name__: f
    for f in (fishing, k401ksubs, mroz, mroz87, randhie, us_population, womenlf)
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
