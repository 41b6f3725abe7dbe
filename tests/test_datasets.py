import numpy as np
import pandas as pd
import pytest

import econderiv
from econderiv import datasets

EXPECTED_ROWS = {"fishing": 1182, "k401ksubs": 9275, "mroz": 753, "mroz87": 753,
                 "randhie": 20190, "us_population": 17, "womenlf": 263}


def test_names():
    assert datasets.names() == sorted(EXPECTED_ROWS)


@pytest.mark.parametrize("name", sorted(EXPECTED_ROWS))
def test_load(name):
    df = datasets.load(name)
    assert isinstance(df, pd.DataFrame)
    assert len(df) == EXPECTED_ROWS[name]
    assert "Source" in datasets.describe(name)


def test_known_values():
    mroz87 = datasets.load("mroz87")
    assert int(mroz87["lfp"].sum()) == 428
    pop = datasets.load("us_population")
    assert pop.loc[pop.year == 1790, "population"].item() == 3929214
    sub = datasets.load("randhie").query("year == 2 and educdec.notna()")
    assert len(sub) == 5574


def test_fresh_copy_each_time():
    a = datasets.load("womenlf")
    a.iloc[0, 1] = -1
    assert datasets.load("womenlf").iloc[0, 1] != -1


def test_unknown_name():
    with pytest.raises(ValueError, match="unknown data set 'nope'.*mroz87"):
        datasets.load("nope")


def test_data_ship_inside_the_package():
    # The files must live inside the installed package, not beside the repo.
    from importlib import resources
    root = resources.files("econderiv.datasets").joinpath("data")
    assert root.joinpath("mroz87.csv.gz").is_file()
    assert np.isfinite(econderiv.datasets.load("fishing")["income"]).all()
