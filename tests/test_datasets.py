import numpy as np
import pandas as pd
import pytest

import econderiv
from econderiv import datasets

EXPECTED_ROWS = {"fishing": 1182, "k401ksubs": 9275, "lynx_hare": 21, "mroz": 753, "mroz87": 753,
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


def test_simulate_motor():
    df = datasets.simulate_motor(n=2000, seed=3)
    assert list(df.columns) == ["t", "x", "u", "x_true", "v_true"]
    assert df.equals(datasets.simulate_motor(n=2000, seed=3))
    assert np.std(df.x - df.x_true) == pytest.approx(2e-3, rel=0.1)
    assert df.x_true.iloc[0] == 0.3 and df.v_true.iloc[0] == 0.5
    # The noise-free state obeys v' = a v + b u + g: check with central
    # differences of the exact velocity where the input is held.
    h = df.t.iloc[1]
    v = df.v_true.to_numpy()
    u = df.u.to_numpy()
    dv = (v[2:] - v[:-2]) / (2 * h)
    held = (u[:-2] == u[1:-1]) & (u[1:-1] == u[2:])
    rhs = -4.0 * v[1:-1] + 10.0 * u[1:-1] - 2.0
    assert np.max(np.abs(dv - rhs)[held]) < 1e-3
    # and x' = v (away from input switches, where x'' jumps)
    dx = (df.x_true.to_numpy()[2:] - df.x_true.to_numpy()[:-2]) / (2 * h)
    assert np.max(np.abs(dx - v[1:-1])[held]) < 1e-3
