"""statsmodels' own MNLogit tests, run with econderiv's MNLogit swapped in.

econderiv.MNLogit subclasses statsmodels' MNLogit, so it must pass
statsmodels' tests of that class (statsmodels/discrete/tests/test_discrete.py
and test_margins.py, as installed): the MNLogit test classes and functions
are collected here with the class name ``MNLogit`` (and ``sm.MNLogit``,
``smf.mnlogit``) of the statsmodels test module replaced by econderiv's, in
two modes:

* ``Own``: with the tests' own ``method=`` (statsmodels' optimizers on
  econderiv's exact block-summed derivatives);
* ``Default``: every ``fit`` uses econderiv's default optimizer (Böhning,
  finished by Newton) whatever ``method`` the test names; keywords that only
  the named statsmodels optimizer takes are dropped.

Both modes include ``loglikeobs(params).sum() == llf`` to 14 decimals
(``CheckModelResults.test_loglikeobs``).
"""

from __future__ import annotations

import contextlib
import types

import pytest
import statsmodels.api as sm_api
import statsmodels.formula.api as smf_api
from statsmodels.discrete import discrete_model as smd

from econderiv.models.mnlogit import SHARED_FIT_KEYWORDS
from econderiv.models.mnlogit import MNLogit as EdMNLogit

td = pytest.importorskip("statsmodels.discrete.tests.test_discrete")
tm = pytest.importorskip("statsmodels.discrete.tests.test_margins")


class DefaultMethodMNLogit(EdMNLogit):
    """econderiv's MNLogit whose ``fit`` ignores the test's ``method`` and
    the keywords of the statsmodels optimizer it names."""

    def fit(self, start_params=None, method=None, **kwargs):
        keep = set(SHARED_FIT_KEYWORDS) | {"accelerate", "warn_convergence"}
        return super().fit(start_params=start_params,
                           **{k: v for k, v in kwargs.items() if k in keep})


@contextlib.contextmanager
def swapped(cls):
    """Replace statsmodels' MNLogit by ``cls`` where the statsmodels tests
    look it up: the test module's ``MNLogit``, ``sm.MNLogit``,
    ``smf.mnlogit``, and ``discrete_model.MNLogit`` (imported inside
    test_margins' function)."""
    sm_proxy = types.SimpleNamespace(**vars(sm_api))
    sm_proxy.MNLogit = cls
    smf_proxy = types.SimpleNamespace(**vars(smf_api))
    smf_proxy.mnlogit = cls.from_formula
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(td, "MNLogit", cls)
        mp.setattr(td, "sm", sm_proxy)
        mp.setattr(td, "smf", smf_proxy)
        mp.setattr(smd, "MNLogit", cls)
        yield


def _swap_class(base, cls):
    """``base`` (a statsmodels test class) with ``cls`` swapped in for its
    class setup and for every test method."""

    class Swapped(base):
        @classmethod
        def setup_class(klass):
            with swapped(cls):
                base.setup_class.__func__(klass)

        @pytest.fixture(autouse=True)
        def _econderiv_mnlogit(self):
            with swapped(cls):
                yield

    Swapped.__name__ = Swapped.__qualname__ = base.__name__
    return Swapped


MODES = {"Own": EdMNLogit, "Default": DefaultMethodMNLogit}

CLASSES = ["TestMNLogitNewtonBaseZero", "TestMNLogitLBFGSBaseZero", "TestMNLogitL1",
           "TestMNLogitL1Compatability", "TestL1AlphaZeroMNLogit", "TestMNLogitScoreTest"]

for _mode, _cls in MODES.items():
    for _name in CLASSES:
        globals()[f"Test{_mode}_{_name[4:]}"] = _swap_class(getattr(td, _name), _cls)


def _summary_after_remove_data():
    td.test_summary_after_remove_data(td._fit_mnlogit_for_summary)


FUNCTIONS = {
    "basinhopping": td.test_mnlogit_basinhopping,
    "issue_339": td.test_issue_339,
    "issue_341": td.test_issue_341,
    "factor": td.test_mnlogit_factor,
    "factor_categorical": td.test_mnlogit_factor_categorical,
    "binary_pred_table_zeros": td.test_binary_pred_table_zeros,
    "float_name": td.test_mnlogit_float_name,
    "cov_confint_pandas": td.test_cov_confint_pandas,
    "mlogit_t_test": td.test_mlogit_t_test,
    "resid_response": td.test_mnlogit_resid_response,
    "summary_after_remove_data": _summary_after_remove_data,
    "margins_summary_multi_equation": tm.test_discrete_margins_summary_multi_equation,
}


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_statsmodels_function(name, mode):
    with swapped(MODES[mode]):
        FUNCTIONS[name]()


def test_the_swap_reaches_every_lookup():
    with swapped(DefaultMethodMNLogit):
        assert td.MNLogit is DefaultMethodMNLogit
        assert td.sm.MNLogit is DefaultMethodMNLogit
        res = td._fit_mnlogit_for_summary()
        assert isinstance(res.model, EdMNLogit)
        assert res.mle_settings["optimizer"] == "bohning"
    assert td.MNLogit is smd.MNLogit is not EdMNLogit
