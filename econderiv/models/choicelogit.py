"""McFadden's conditional logit for discrete choice (Stata ``cmclogit``/``asclogit``,
R ``mlogit``), fitted on Böhning's bound.

Each case (a choice situation: an angler on a trip, a traveller, a shopper)
chooses one alternative from a choice set that may differ between cases.
Utilities combine alternative-specific attributes ``x_ij`` (price, catch rate,
travel time: one coefficient each) with case-specific regressors ``z_i``
(income, age: one coefficient per non-base alternative) and
alternative-specific constants::

    eta_ij = x_ij' beta + alpha_j + z_i' gamma_j,   alpha_base = gamma_base = 0,
    P_ij   = exp(eta_ij) / sum_{k available to i} exp(eta_ik).

The formula separates the two kinds of regressor as R's ``mlogit`` does:
``"chosen ~ price + catch | income"`` (alternative-specific | case-specific);
the intercept of the first part is the set of alternative-specific constants
(``"chosen ~ 0 + price + catch"``: none, as Cameron and Trivedi's CL column).

Parameters are named ``price``, ``catch`` (alternative-specific), then per
non-base alternative ``<alternative>:Intercept``, ``<alternative>:income``.

The likelihood, score, Hessian and Böhning's bound are the row-block kernels
of :mod:`econderiv.models._choicelogit_kernels`, where a "row" is a case;
weights, covariance types (HC0, HC1, cluster, ...) and the summation over
blocks come from the shared core.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.base import wrapper as wrap
from statsmodels.base.model import LikelihoodModel, LikelihoodResultsWrapper

from econderiv.models import _dask, _data, _inference, _optim
from econderiv.models._choicelogit_kernels import (ChoiceBound, bohning_matrix,
                                                   choicelogit_loglike_derivs,
                                                   constant_within_cases, mean_elasticities,
                                                   nonbase, probabilities)
from econderiv.models._likelihood import (FIT_KEYWORDS, ExactLikelihoodModel,
                                          ExactLikelihoodResults, parallel_map, row_blocks)
from econderiv.models._mnlogit_kernels import collinear_columns

__all__ = ["ChoiceLogit", "ChoiceLogitResults", "wide_to_long"]

#: bytes targeted per block for the kernel's temporaries
_BLOCK_BYTES = 16 * 2**20


# ---------------------------------------------------------------------------
# Data: wide -> long, long -> padded case arrays
# ---------------------------------------------------------------------------

def wide_to_long(data: pd.DataFrame, choice: str | None, varying: dict,
                 alternatives=None, case: str = "case", alternative: str = "alternative",
                 chosen: str = "chosen") -> pd.DataFrame:
    """One row per case (columns per alternative) -> one row per case and alternative.

    Parameters
    ----------
    data : DataFrame
        One row per case.
    choice : str or None
        Column holding the chosen alternative's label (None: prediction data).
    varying : dict
        ``{attribute: {alternative: column}}`` or ``{attribute: [columns]}``
        (in the order of ``alternatives``). A missing alternative in the
        mapping, or a NaN in its column, makes it unavailable for that case.
    alternatives : list, optional
        The alternatives (default: the keys of the first mapping of
        ``varying``, or the sorted labels of ``choice``).
    case, alternative, chosen : str
        Names of the case id (the index of ``data``), alternative and
        chosen-indicator columns of the result.

    Returns
    -------
    DataFrame
        Columns ``case``, ``alternative``, ``chosen`` (if ``choice``), the
        attributes, and the other columns of ``data`` (case-specific).
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError("wide data must be a DataFrame")
    if not varying:
        raise ValueError("varying must map each alternative-specific attribute to its "
                         "columns, e.g. {'price': {'beach': 'pbeach', ...}}")
    if alternatives is None:
        first = next(iter(varying.values()))
        if isinstance(first, dict):
            alternatives = list(first)
        elif choice is not None:
            alternatives = sorted(pd.unique(data[choice].dropna()))
        else:
            raise ValueError("give alternatives= (the order of the columns in varying)")
    alternatives = list(alternatives)
    maps = {}
    for attr, cols in varying.items():
        if not isinstance(cols, dict):
            cols = list(cols)
            if len(cols) != len(alternatives):
                raise ValueError(f"varying[{attr!r}] lists {len(cols)} columns for "
                                 f"{len(alternatives)} alternatives {alternatives}")
            cols = dict(zip(alternatives, cols))
        lack = [c for c in cols.values() if c not in data.columns]
        if lack:
            raise ValueError(f"varying[{attr!r}] names column(s) {lack} that are not in the data")
        maps[attr] = cols
    used = {c for cols in maps.values() for c in cols.values()}
    rest = [c for c in data.columns if c not in used and c != choice and c not in maps]
    n = len(data)
    index = data.index
    parts = []
    for alt in alternatives:
        frame = {case: index, alternative: np.repeat(np.array([alt], dtype=object), n)}
        if choice is not None:
            frame[chosen] = (data[choice] == alt).to_numpy().astype(float)
        have = np.ones(n, dtype=bool)
        for attr, cols in maps.items():
            if alt in cols:
                v = data[cols[alt]].to_numpy(dtype=float)
                have &= ~np.isnan(v)
                frame[attr] = v
            else:
                frame[attr] = np.full(n, np.nan)
                have[:] = False
        part = pd.DataFrame(frame)
        for c in rest:
            part[c] = data[c].to_numpy()
        parts.append(part[have])
    out = pd.concat(parts, ignore_index=True)
    order = np.argsort(pd.factorize(out[case])[0], kind="stable")
    return out.iloc[order].reset_index(drop=True)


def _plain(label):
    """A numpy scalar as the Python value (for messages)."""
    return label.item() if isinstance(label, np.generic) else label


class _CaseArrays:
    """Padded case arrays from long data (one row per case and alternative).

    ``X (n, J, p)``, ``Z (n, q)``, ``avail (n, J)``, ``y (n,)`` (position of
    the chosen alternative, -1 without choices), ``case_labels``,
    ``alternatives`` (labels in position order).
    """

    def __init__(self, xalt, zcase, case, alt, chosen=None, alternatives=None,
                 xnames=(), znames=()):
        N = len(case)
        case_codes, case_labels = pd.factorize(np.asarray(case), sort=False)
        case_labels = pd.Index(case_labels)
        if (case_codes < 0).any():
            raise ValueError("the case id is missing (NaN) for some rows")
        alt_index = pd.Index(alt)
        if alt_index.hasnans:
            raise ValueError("the alternative id is missing (NaN) for some rows")
        if alternatives is None:
            alternatives = list(pd.unique(alt_index))
            try:
                alternatives = sorted(alternatives)
            except TypeError:
                pass
        alternatives = list(alternatives)
        pos = pd.Index(alternatives).get_indexer(alt_index)
        if (pos < 0).any():
            unknown = pd.unique(alt_index[pos < 0])[:5]
            raise ValueError(f"alternative(s) {list(unknown)} are not among the model's "
                             f"alternatives {alternatives}")
        n, J = len(case_labels), len(alternatives)
        flat = case_codes.astype(np.int64) * J + pos
        counts = np.bincount(flat, minlength=n * J)
        if (counts > 1).any():
            dup = np.flatnonzero(counts > 1)
            i, j = divmod(int(dup[0]), J)
            raise ValueError(f"alternative {alternatives[j]!r} appears {counts[dup[0]]} times in "
                             f"case {_plain(case_labels[i])!r} ({len(dup)} duplicated "
                             "case-alternative pairs in all): each alternative may appear once "
                             "per case")
        p = xalt.shape[1]
        if N == n * J and (flat == np.arange(N)).all():  # balanced and sorted: no scatter
            self.X = np.ascontiguousarray(xalt, dtype=float).reshape(n, J, p)
            self.avail = np.ones((n, J), dtype=bool)
        else:
            self.X = np.zeros((n, J, p))
            self.X.reshape(n * J, p)[flat] = xalt
            self.avail = np.zeros((n, J), dtype=bool)
            self.avail.reshape(-1)[flat] = True
        q = zcase.shape[1]
        self.Z = np.zeros((n, q))
        if q:
            self.Z[case_codes] = zcase
            back = self.Z[case_codes]
            differ = np.nonzero(back != zcase)  # usually empty: copied values are equal
            varies = np.zeros(q, dtype=bool)
            rel = np.abs(back[differ] - zcase[differ]) > 1e-12 * np.maximum(
                np.abs(zcase[differ]), 1.0)
            varies[np.unique(differ[1][rel])] = True
            if varies.any():
                bad = [znames[k] for k in np.flatnonzero(varies)]
                raise ValueError(f"case-specific regressor(s) {bad} vary within a case; an "
                                 "attribute that differs between alternatives belongs in the "
                                 "first part of the formula ('chosen ~ x | z')")
        self.y = np.full(n, -1, dtype=np.int64)
        if chosen is not None:
            c = np.asarray(chosen, dtype=float)
            bad = ~np.isin(c, (0.0, 1.0))
            if bad.any():
                raise ValueError(f"the chosen indicator must be 0/1 (or boolean); row "
                                 f"{int(np.flatnonzero(bad)[0])} holds {c[bad][0]!r}")
            n_chosen = np.bincount(case_codes, weights=c, minlength=n).astype(int)
            wrong = np.flatnonzero(n_chosen != 1)
            if len(wrong):
                none = int((n_chosen == 0).sum())
                many = int((n_chosen > 1).sum())
                i = int(wrong[0])
                raise ValueError(
                    f"each case must have exactly one chosen alternative: {none} case(s) have "
                    f"none and {many} have two or more (e.g. case {_plain(case_labels[i])!r} has "
                    f"{n_chosen[i]})")
            rows = np.flatnonzero(c == 1.0)
            self.y[case_codes[rows]] = pos[rows]
        self.case_labels = case_labels
        self.alternatives = alternatives
        self.case_codes = case_codes
        self.n_long = N


def _split_formula(formula: str):
    """``"y ~ a + b | z"`` -> ``(lhs, alternative part, case part or None)``."""
    if "~" not in formula:
        raise ValueError(f"the formula {formula!r} needs the chosen indicator (long data) or "
                         "the choice column (wide data) on the left: 'chosen ~ price | income'")
    lhs, rhs = formula.split("~", 1)
    parts = rhs.split("|")
    if len(parts) > 2:
        raise ValueError(f"the formula {formula!r} has more than one '|': use "
                         "'chosen ~ alternative-specific | case-specific'")
    alt_part = parts[0].strip() or "1"
    case_part = parts[1].strip() if len(parts) == 2 else None
    return lhs.strip(), alt_part, case_part


def _designs(alt_part, case_part, long: pd.DataFrame, infos=None):
    """Alternative-specific design (without intercept), whether it had one
    (the alternative-specific constants), and the case-specific design."""
    import patsy

    na = patsy.NAAction(NA_types=[])
    if infos is None:
        xa = patsy.dmatrix(alt_part, long, NA_action=na, return_type="dataframe")
        zc = (patsy.dmatrix(case_part, long, NA_action=na, return_type="dataframe")
              if case_part else None)
    else:
        xa = patsy.build_design_matrices([infos[0]], long, NA_action=na,
                                         return_type="dataframe")[0]
        zc = (patsy.build_design_matrices([infos[1]], long, NA_action=na,
                                          return_type="dataframe")[0]
              if infos[1] is not None else None)
    asc = "Intercept" in xa.columns
    xinfo = xa.design_info
    xa = xa.drop(columns=["Intercept"], errors="ignore")
    zinfo = None
    if zc is not None:
        zinfo = zc.design_info
        zc = zc.drop(columns=["Intercept"], errors="ignore")
    return xa, asc, zc, (xinfo, zinfo)


# ---------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------

class ChoiceLogit(ExactLikelihoodModel):
    """McFadden's conditional logit (discrete choice with alternative-specific
    attributes), fitted by Böhning's bound with a Newton finish.

    Named ``ChoiceLogit`` because statsmodels' ``ConditionalLogit`` is a
    different model (the fixed-effects logit for binary panel data,
    conditioning on the number of successes per group); this is McFadden's
    (1974) conditional logit of a choice among alternatives, the model of
    Stata's ``cmclogit``/``asclogit``, R's ``mlogit`` and Python's biogeme,
    larch and xlogit.

    Parameters
    ----------
    endog : array_like or Series (N,)
        The chosen indicator (0/1 or boolean), one row per case and
        alternative; exactly one chosen alternative per case.
    exog : array_like or DataFrame (N, p)
        Alternative-specific attributes (one coefficient each); ``None``
        for none.
    case : array_like (N,)
        Case (choice situation) id of each row.
    alternative : array_like (N,)
        Alternative id of each row; each appears at most once per case. An
        alternative missing from a case is unavailable there (unbalanced
        choice sets).
    exog_case : array_like or DataFrame (N, q), optional
        Case-specific regressors (constant within a case; one coefficient
        per non-base alternative).
    asc : bool
        Alternative-specific constants (default True).
    base : optional
        The base alternative (default: the first in sorted order, as R's
        ``mlogit``); its constant and case-specific coefficients are 0.
    alternatives : list, optional
        All alternatives in the order used for positions and names.
    missing : {"raise", "none", "drop"}
        NaN in a regressor is an error naming the column ("raise", "none"),
        or ("drop") makes that alternative unavailable (a NaN attribute) or
        drops the case (a NaN case regressor or choice, or no attributes for
        the chosen alternative): counts in ``n_dropped`` (cases) and
        ``n_unavailable`` (alternatives).
    freq_weights, prob_weights, importance_weights : array_like, optional
        Case weights (one per case, or one per row constant within a case).

    Notes
    -----
    ``nobs`` is the number of cases. Parameters: the alternative-specific
    attributes, then for each non-base alternative ``"<alt>:Intercept"`` and
    ``"<alt>:<case regressor>"``. :meth:`fit` uses Böhning's bound by
    default (``method="bohning"``); the other optimizers of the package work
    too.
    """

    _other_estimators = None

    def __init__(self, endog, exog, case, alternative, exog_case=None, asc: bool = True,
                 base=None, alternatives=None, missing: str = "raise", **kwargs):
        wspec = _data.pop_weights(kwargs, "ChoiceLogit") if hasattr(_data, "pop_weights") \
            else None
        missing = _data.check_missing_rule(missing)
        chosen = np.asarray(endog, dtype=float) if endog is not None else None
        if exog is None:
            xalt, xnames = np.zeros((len(case), 0)), []
        else:
            xalt, xnames, _ = _data.as_matrix(exog, "exog", "x")
        if exog_case is None:
            zc, znames = np.zeros((len(case), 0)), []
        else:
            zc, znames, _ = _data.as_matrix(exog_case, "exog_case", "z")
        if not (len(xalt) == len(zc) == len(case) == len(alternative)
                and (chosen is None or len(chosen) == len(case))):
            lengths = [None if chosen is None else len(chosen), len(xalt), len(case),
                       len(alternative), len(zc)]
            raise ValueError(f"endog, exog, case, alternative and exog_case need one row per "
                             f"case and alternative; got lengths {lengths}")
        if asc:
            zc = np.hstack([np.ones((len(case), 1)), zc])
            znames = ["Intercept"] + list(znames)
        keep = None
        self.n_dropped = self.n_unavailable = 0
        if missing == "drop":
            case, alternative = np.asarray(case), np.asarray(alternative)
            bad_x = ~np.isfinite(xalt).all(axis=1)
            bad_case_row = ~np.isfinite(zc).all(axis=1)
            if chosen is not None:
                bad_case_row |= np.isnan(chosen) | (bad_x & (chosen == 1))
            # a NaN attribute makes that alternative unavailable; a NaN case
            # regressor or choice, or a chosen alternative without attributes,
            # drops the case
            lost = pd.unique(case[bad_case_row])
            in_lost = np.isin(case, lost)
            keep = ~in_lost & ~bad_x
            self.n_dropped = len(lost)
            self.n_unavailable = int((bad_x & ~in_lost).sum())
            if not keep.all():
                xalt, zc, case, alternative = xalt[keep], zc[keep], case[keep], alternative[keep]
                chosen = None if chosen is None else chosen[keep]
        _data.check_finite(xalt, list(xnames), "exog")
        _data.check_finite(zc, list(znames), "exog_case")
        if chosen is not None and np.isnan(chosen).any():
            raise ValueError("the chosen indicator (endog) has NaN; pass missing='drop' to "
                             "drop those cases")
        d = _CaseArrays(xalt, zc, case, alternative, chosen, alternatives, xnames, znames)
        self._long_keep = keep
        if base is None:
            base_pos = 0
        else:
            if base not in d.alternatives:
                raise ValueError(f"base {base!r} is not an alternative ({d.alternatives})")
            base_pos = d.alternatives.index(base)
        self._setup(d.X, d.Z, d.avail, d.y, base_pos, d.alternatives, list(xnames),
                    list(znames), d.case_labels, asc)
        self._case_codes = d.case_codes
        self.n_long = d.n_long
        if wspec is not None:
            key, w = wspec
            w = self._per_case(w, "weights")
            self._init_weights((key, w))
            self._weight_key = key

    # -- set-up from case arrays (also used by the IIA test) -----------------
    def _setup(self, X, Z, avail, y, base, alternatives, xnames, znames, case_labels, asc):
        if (y < 0).any():
            raise ValueError("every case needs its chosen alternative to fit the model")
        if not avail[np.arange(len(y)), y].all():
            raise ValueError("a chosen alternative is not available in its case")
        self._X, self._Z, self._avail, self._y = X, Z, avail, y
        self.base = base
        self.alternatives = list(alternatives)
        self.base_alternative = self.alternatives[base]
        self.alt_names, self.case_names = list(xnames), list(znames)
        self.asc = asc
        n, J, p = X.shape
        q = Z.shape[1]
        if J < 2:
            raise ValueError(f"a choice needs at least 2 alternatives, got {J}")
        const = constant_within_cases(X, avail) if p else np.zeros(0, bool)
        if const.any():
            bad = [xnames[k] for k in np.flatnonzero(const)]
            raise ValueError(f"alternative-specific attribute(s) {bad} do not vary over the "
                             "alternatives of any case: their coefficients are not identified "
                             "(a constant within every case cancels from the choice "
                             "probabilities). Drop them, or interact them with the "
                             "alternatives as case-specific regressors ('| x').")
        nb = nonbase(J, base)
        self.param_names = list(xnames) + [f"{self.alternatives[j]}:{z}" for j in nb
                                           for z in znames]
        self.k_params = len(self.param_names)
        self.nobs = float(n)
        self._nrows = n
        self.row_labels = case_labels
        self._kept = None
        per_case = max(1, J * (3 * p + 4) + (J * J + q * q + q) * 2) * 8
        self.block_rows = max(256, _BLOCK_BYTES // per_case)
        # statsmodels' endog: the position of the chosen alternative per case
        chosen = pd.Series(y.astype(float), index=case_labels, name="chosen")
        LikelihoodModel.__init__(self, chosen, None, missing="none", hasconst=False)
        self.data.param_names = self.param_names
        self.k_constant = int(asc)
        self.df_model = float(self.k_params - (J - 1) * int(asc))
        self.df_resid = self.nobs - self.k_params
        self._design_infos = None
        self._spec = None
        self._bohning = None
        self._reset_blocks()
        B = self.bohning_bound()
        bad = collinear_columns(B)
        if not bad:
            try:
                self._bohning = (None, ChoiceBound(B))
            except np.linalg.LinAlgError:
                bad = [self.k_params - 1]
        if bad:
            names = [self.param_names[k] for k in bad]
            raise ValueError(f"the model is not identified: parameter(s) {names} are linear "
                             "combinations of earlier ones over the choice sets (a regressor "
                             "collinear with others, or a case-specific regressor that is "
                             "constant); drop the offending regressor")

    def _per_case(self, values, what: str) -> np.ndarray:
        """Values given per case (length n) or per long row (constant within a
        case); two columns (two-way cluster groups) column by column."""
        if isinstance(values, pd.Series) and len(values) == self._nrows:
            return values.to_numpy()
        v = np.asarray(values)
        if len(v) == self._nrows:
            return v
        if v.ndim == 2:
            return np.column_stack([self._per_case(v[:, j], f"{what} (column {j + 1})")
                                    for j in range(v.shape[1])])
        keep = getattr(self, "_long_keep", None)
        if keep is not None and len(v) == len(keep) and len(v) != self.n_long:
            v = v[keep]  # given for the rows before missing='drop'
        if len(v) == getattr(self, "n_long", -1):
            out = np.empty(self._nrows, dtype=v.dtype)
            out[self._case_codes] = v
            if not (out[self._case_codes] == v).all():
                raise ValueError(f"{what} given per row must be constant within each case")
            return out
        raise ValueError(f"{what} has {len(v)} entries; give one per case ({self._nrows}) or "
                         f"one per row of the long data ({getattr(self, 'n_long', '?')})")

    @classmethod
    def from_formula(cls, formula: str, data: pd.DataFrame, case: str | None = None,
                     alternative: str | None = None, varying: dict | None = None,
                     alternatives=None, base=None, subset=None, **kwargs):
        """Build the model from ``"chosen ~ attributes | case regressors"``.

        Parameters
        ----------
        formula : str
            ``"chosen ~ price + catch | income"``: before ``|`` the
            alternative-specific attributes (one coefficient; the intercept,
            present unless ``0 +``, gives the alternative-specific
            constants), after ``|`` the case-specific regressors (one
            coefficient per non-base alternative). Long data: the left side
            is the 0/1 chosen indicator. Wide data: the column holding the
            chosen alternative.
        data : DataFrame
            Long (one row per case and alternative, with ``case`` and
            ``alternative`` columns) or wide (one row per case; give
            ``varying``).
        case, alternative : str
            Columns of the case id and the alternative id (long data).
        varying : dict, optional
            Wide data: ``{attribute: {alternative: column}}`` (see
            :func:`wide_to_long`).
        alternatives, base
            As in the constructor.
        subset : optional
            Rows of ``data`` to use.
        **kwargs
            ``asc`` is taken from the formula; weights (as arrays or column
            names of ``data``; for wide data per wide row or per case) and the
            other constructor keywords.
        """
        if _dask.is_dask(data):  # data larger than memory: the distributed backend
            return _dask.from_formula(cls, formula, data, subset=subset, case=case,
                                      alternative=alternative, varying=varying,
                                      alternatives=alternatives, base=base,
                                      missing=kwargs.pop("missing", "raise"), **kwargs)
        data = _data.subset_rows(data, subset)
        lhs, alt_part, case_part = _split_formula(formula)
        if hasattr(_data, "formula_weights"):
            _data.formula_weights(kwargs, data)
        if varying is not None:
            if lhs not in data.columns:
                raise ValueError(f"wide data: the left side {lhs!r} must be the column of "
                                 "the chosen alternative")
            long = wide_to_long(data, lhs, varying, alternatives)
            # weights given per wide row (a column's name, or an array) go to the
            # long rows through the case id, so that missing='drop' drops them
            # with their cases
            at = data.index.get_indexer(long["case"]) if data.index.is_unique else None
            for key in ("freq_weights", "prob_weights", "importance_weights"):
                if kwargs.get(key) is not None:
                    v = np.asarray(kwargs[key])
                    kwargs[key] = v[at] if at is not None and len(v) == len(data) else v
            case, alternative, chosen_col = "case", "alternative", "chosen"
            wide = dict(choice=lhs, varying=varying)
        else:
            if case is None or alternative is None:
                raise ValueError("long data need case= and alternative= (column names); wide "
                                 "data need varying=")
            for c in (case, alternative, lhs):
                if c not in data.columns:
                    raise ValueError(f"column {c!r} is not in the data")
            long, chosen_col, wide = data, lhs, None
        xa, asc, zc, infos = _designs(alt_part, case_part, long)
        chosen = long[chosen_col]
        if chosen.dtype == bool:
            chosen = chosen.astype(float)
        model = cls(chosen.to_numpy(dtype=float), xa if xa.shape[1] else None,
                    long[case].to_numpy(), long[alternative].to_numpy(),
                    zc if zc is not None and zc.shape[1] else None, asc=asc, base=base,
                    alternatives=alternatives, **kwargs)
        model.formula = formula
        model._formula_frame_long = long if varying is None else data  # not copied
        model._design_infos = list(infos)
        model._spec = dict(case=case, alternative=alternative, wide=wide,
                           alt_part=alt_part, case_part=case_part)
        return model

    # -- kernel contract -----------------------------------------------------
    def _block_data(self, rows):
        return self._X[rows], self._Z[rows], self._avail[rows], self._y[rows], self.base

    @staticmethod
    def _kernel(params, data, order, llobs, per_obs, weights=None):
        X, Z, avail, y, base = data
        return choicelogit_loglike_derivs(params, X, Z, avail, y, base, order, llobs, per_obs,
                                          weights)

    @property
    def start_params(self) -> np.ndarray:
        """Zeros (equal probabilities): the log-likelihood is concave."""
        return np.zeros(self.k_params)

    # -- Böhning's bound ----------------------------------------------------
    def bohning_bound(self) -> np.ndarray:
        """``B = sum_i w_i X_i' A_{J_i} X_i >= -H(theta)`` for every ``theta``."""
        w = getattr(self, "_w", None)

        def one(sl):
            return bohning_matrix(self._X[sl], self._Z[sl], self._avail[sl], self.base,
                                  None if w is None else w[sl])

        return sum(parallel_map(one, list(row_blocks(self._nrows, self.block_rows))))

    @property
    def bohning(self) -> ChoiceBound:
        if self._bohning is None or self._bohning[0] is not getattr(self, "_w", None):
            self._bohning = (getattr(self, "_w", None), ChoiceBound(self.bohning_bound()))
        return self._bohning[1]

    def _loglike_score(self, params):
        """``(loglike, score)`` without the Hessian (one pass per Böhning step)."""
        ll, g, _ = self._run(np.asarray(params, float), 1, None, False)
        w = getattr(self, "_w", None)
        return float(ll.sum() if w is None else w @ ll), g

    # -- fitting -------------------------------------------------------------
    def fit(self, start_params=None, method: str = "bohning", maxiter: int = 100,
            disp: bool = False, callback=None, cov_type: str | None = None, cov_kwds=None,
            accelerate: bool = True, switch_tol: float = 0.1, **kwargs):
        """Maximum likelihood.

        Parameters
        ----------
        method : str
            ``"bohning"`` (default): L-BFGS preconditioned by Böhning's
            fixed bound ``B = sum_i X_i' A_{J_i} X_i`` (one pass over the data
            per iteration, no Hessian) until ``g'B^{-1}g <= switch_tol``,
            then the package's Newton method with the exact Hessian
            (``"newton_linesearch"``: convergence rule, final Newton step,
            covariance). ``accelerate=False``: plain MM ``theta += B^{-1}g``
            (monotone) to ``g'B^{-1}g <= 1e-12`` before the Newton check.
            Any other name is one of the package's or statsmodels'
            optimizers on the exact derivatives.
        maxiter : int
            Iterations of each phase.
        cov_type, cov_kwds
            As every likelihood family (``"nonrobust"``, ``"HC0"``,
            ``"HC1"``, ``"cluster"`` with ``cov_kwds={"groups": g}``; ``g``
            per case or per row of the long data, constant within cases;
            two columns: two-way clustering, Cameron, Gelbach and Miller's
            ``V_1 + V_2 - V_12``; for a model of :meth:`from_formula` also
            the name of a column of its data, and for wide data values per
            wide row, whose cases dropped by ``missing='drop'`` fall out).
        accelerate, switch_tol
            Only for ``"bohning"``.
        **kwargs
            ``tol``, ``gtol`` and the keywords of the core's ``fit``.

        Returns
        -------
        ChoiceLogitResults (wrapped)
        """
        if cov_kwds and "groups" in cov_kwds and cov_kwds["groups"] is not None:
            g = cov_kwds["groups"]
            if isinstance(g, str):
                frame = self._formula_frame_long
                if frame is None or g not in frame.columns:
                    raise ValueError(f"groups={g!r}: give an array, or the name of a column "
                                     "of the data of from_formula")
                g = frame[g].to_numpy()
            if not (isinstance(g, pd.Series) and len(g) == self._nrows):
                g = self._per_case(self._from_wide_rows(g), "groups")
            cov_kwds = dict(cov_kwds, groups=g)
        _optim.check_method(method, own=("bohning", "newton_trust", "newton_linesearch"))
        if str(method).lower() != "bohning":
            if accelerate is not True or switch_tol != 0.1:
                raise ValueError("accelerate and switch_tol apply only to method='bohning'")
            return super().fit(start_params, method, maxiter, disp, callback, cov_type,
                               cov_kwds, **kwargs)
        maxiter = _optim.check_maxiter(maxiter)
        _optim.check_keywords(kwargs, set(FIT_KEYWORDS) - {"method", "global_search", "grid"}
                              | set(_optim.OPTIMIZER_KWARGS["newton_linesearch"]),
                              "ChoiceLogit.fit(method='bohning')")
        start = self.start_params if start_params is None else np.asarray(start_params, float)
        if start.shape != (self.k_params,):
            raise ValueError(f"start_params must have {self.k_params} elements "
                             f"({', '.join(self.param_names)}), got shape {start.shape}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out = _optim.fit_bohning(self._loglike_score, self.bohning, start,
                                     accelerate=accelerate, maxiter=(maxiter * 5 if accelerate
                                                                    else 100 * maxiter),
                                     tol=switch_tol if accelerate else 1e-12,
                                     gtol=kwargs.get("gtol", _optim.DEFAULT_GTOL),
                                     callback=callback)
        res = super().fit(out["params"], "newton_linesearch", maxiter, disp, callback, cov_type,
                          cov_kwds, **kwargs)
        r = res._results
        r.method = "bohning"
        if isinstance(r.mle_retvals, dict):
            r.mle_retvals = dict(r.mle_retvals)
            r.mle_retvals["bohning"] = {k: out[k] for k in ("iterations", "fcalls", "criterion",
                                                           "llf", "message")}
            r.mle_retvals["iterations"] = out["iterations"] + r.mle_retvals.get("iterations", 0)
        return res

    _formula_frame_long = None

    def _from_wide_rows(self, values):
        """Values given per row of the wide data of :meth:`from_formula` (a
        column of it, say) as values per case, through the case id: the rows
        of cases dropped by ``missing='drop'`` fall out. Anything else as given."""
        frame = self._formula_frame_long
        spec = getattr(self, "_spec", None)
        if spec is None or spec["wide"] is None or frame is None:
            return values
        v = np.asarray(values)
        if v.ndim == 0 or len(v) != len(frame) or not frame.index.is_unique:
            return values
        return v[frame.index.get_indexer(self.row_labels)]

    # -- designs for new data -------------------------------------------------
    def _new_arrays(self, data):
        """Case arrays of new data (long or, for a wide-data formula, wide)
        through the model's formula; choices are not needed."""
        if self._spec is None:
            raise ValueError("prediction on new data needs a model built with from_formula")
        s = self._spec
        if s["wide"] is not None:
            long = wide_to_long(data, None, s["wide"]["varying"], self.alternatives)
            case, alt = "case", "alternative"
        else:
            long, case, alt = data, s["case"], s["alternative"]
        xa, _, zc, _ = _designs(s["alt_part"], s["case_part"], long, self._design_infos)
        xa = xa.to_numpy(dtype=float)
        zc = np.zeros((len(long), 0)) if zc is None else zc.to_numpy(dtype=float)
        if self.asc:
            zc = np.hstack([np.ones((len(long), 1)), zc])
        _data.check_finite(xa, self.alt_names, "new data")
        return _CaseArrays(xa, zc, long[case].to_numpy(), long[alt].to_numpy(), None,
                           self.alternatives, self.alt_names, self.case_names)

    def probabilities(self, params, data=None) -> pd.DataFrame:
        """Choice probabilities, one row per case and one column per
        alternative (NaN where unavailable), at the estimation data or at
        new data."""
        if data is None:
            X, Z, avail, labels = self._X, self._Z, self._avail, self.row_labels
        else:
            d = self._new_arrays(data)
            X, Z, avail, labels = d.X, d.Z, d.avail, d.case_labels
        P = probabilities(np.asarray(params, float), X, Z, avail, self.base)
        P = np.where(avail, P, np.nan)
        return pd.DataFrame(P, index=labels, columns=self.alternatives)

    # -- the IIA test ----------------------------------------------------------
    def _drop_alternative(self, alt):
        """The model on the choice sets without ``alt`` (cases that chose it dropped)."""
        j = self.alternatives.index(alt)
        keep_cases = self._y != j
        keep_alts = [k for k in range(len(self.alternatives)) if k != j]
        X = self._X[keep_cases][:, keep_alts]
        avail = self._avail[keep_cases][:, keep_alts]
        y = self._y[keep_cases]
        y = y - (y > j)
        base = self.base - (self.base > j)
        alive = avail.sum(axis=1) >= 2
        sub = object.__new__(type(self))
        sub._setup(X[alive], self._Z[keep_cases][alive], avail[alive], y[alive], base,
                   [self.alternatives[k] for k in keep_alts], self.alt_names, self.case_names,
                   self.row_labels[keep_cases][alive], self.asc)
        w = getattr(self, "_w", None)
        if w is not None:
            sub._init_weights((self._weight_key, w[keep_cases][alive]))
        return sub


class ChoiceLogitResults(ExactLikelihoodResults):
    """Results of :class:`ChoiceLogit`.

    statsmodels' interface plus ``summary()``, ``probabilities()``,
    ``predicted_shares()``, ``elasticities()``, ``wtp()`` and
    ``iia_test()``.
    """

    def summary(self, alpha: float = 0.05):
        """statsmodels Summary: the alternative-specific attributes, then one
        block per non-base alternative."""
        m = self.model
        top_left, top_right = self.summary_header("ChoiceLogit", extra_right=[
            ("Alternatives:", [f"{len(m.alternatives)}"]),
            ("Base:", [str(m.base_alternative)])])
        p = len(m.alt_names)
        q = len(m.case_names)
        blocks = []
        if p:
            blocks.append(("alternative-specific", slice(0, p), m.alt_names))
        for i, j in enumerate(nonbase(len(m.alternatives), m.base)):
            blocks.append((str(m.alternatives[j]), slice(p + i * q, p + (i + 1) * q),
                           m.case_names))
        return _inference.build_summary(self, "Conditional Logit (McFadden)", top_left,
                                        top_right, blocks, alpha=alpha)

    def probabilities(self, data=None) -> pd.DataFrame:
        """Choice probabilities (cases x alternatives; NaN where unavailable)
        at the estimation data or at new data (long, or wide for a model
        built from wide data)."""
        return self.model.probabilities(np.asarray(self.params), data)

    def predict(self, data=None):
        """Choice probabilities (see :meth:`probabilities`)."""
        return self.probabilities(data)

    def predicted_shares(self, data=None) -> pd.Series:
        """Predicted market shares: the (weighted) mean probability of each
        alternative over the cases (unavailable counts as 0)."""
        P = self.probabilities(data).fillna(0.0)
        w = getattr(self.model, "_w", None) if data is None else None
        shares = P.mean() if w is None else (P.mul(w, axis=0).sum() / w.sum())
        shares.name = "share"
        return shares

    def elasticities(self, attribute: str, at: str = "overall", stderr: bool = False):
        """Own and cross elasticities of the choice probabilities with
        respect to an alternative-specific attribute.

        ``E_jk = d log P_j / d log x_k = beta_x x_k (1{j=k} - P_k)``; rows:
        the probability of alternative ``j``, columns: the attribute of
        alternative ``k``. ``at="overall"``: averaged over the cases where
        both are available; ``at="mean"``: at the attributes' means by
        alternative (and the case regressors' means).

        ``stderr=True`` returns ``(elasticities, standard errors)``: the
        delta method with the analytic Jacobian
        (:func:`~econderiv.models._choicelogit_kernels.mean_elasticities`)
        and the fit's covariance.
        """
        m = self.model
        if attribute not in m.alt_names:
            raise ValueError(f"{attribute!r} is not an alternative-specific attribute "
                             f"({m.alt_names})")
        k = m.alt_names.index(attribute)
        params = np.asarray(self.params, float)
        if at == "mean":
            cnt = m._avail.sum(axis=0)
            X = (m._X.sum(axis=0) / np.maximum(cnt, 1)[:, None])[None]
            Z = m._Z.mean(axis=0, keepdims=True)
            avail = (cnt > 0)[None]
        elif at == "overall":
            X, Z, avail = m._X, m._Z, m._avail
        else:
            raise ValueError(f"at must be 'overall' or 'mean', got {at!r}")
        E, jac = mean_elasticities(params, X, Z, avail, m.base, k)
        idx = pd.Index(m.alternatives, name="P of")
        cols = pd.Index(m.alternatives, name=f"{attribute} of")
        frame = pd.DataFrame(E, index=idx, columns=cols)
        if not stderr:
            return frame
        V = np.asarray(self.cov_params(), float)
        se = np.sqrt(np.clip(np.einsum("jca,ab,jcb->jc", jac, V, jac), 0, None))
        return frame, pd.DataFrame(se, index=idx, columns=cols)

    def wtp(self, attributes=None, cost: str = "price", alpha: float = 0.05) -> pd.DataFrame:
        """Willingness to pay: ``-beta_a / beta_cost`` for each attribute
        ``a`` (money per unit of ``a``), with delta-method standard errors
        (gradient ``(-1/beta_cost, beta_a/beta_cost^2)``) and normal intervals."""
        m = self.model
        if cost not in m.alt_names:
            raise ValueError(f"cost {cost!r} is not an alternative-specific attribute "
                             f"({m.alt_names})")
        if attributes is None:
            attributes = [a for a in m.alt_names if a != cost]
        attributes = [attributes] if isinstance(attributes, str) else list(attributes)
        unknown = [a for a in attributes if a not in m.param_names]
        if unknown:
            raise ValueError(f"no parameter named {unknown}")
        params = np.asarray(self.params, float)
        V = np.asarray(self.cov_params(), float)
        c = m.param_names.index(cost)
        rows = []
        for a in attributes:
            i = m.param_names.index(a)
            val = -params[i] / params[c]
            g = np.zeros(len(params))
            g[i] = -1.0 / params[c]
            g[c] = params[i] / params[c] ** 2
            se = float(np.sqrt(max(g @ V @ g, 0.0)))
            rows.append((val, se))
        val = np.array([r[0] for r in rows])
        se = np.array([r[1] for r in rows])
        z = val / se
        q = stats.norm.ppf(1 - alpha / 2)
        return pd.DataFrame({"wtp": val, "std err": se, "z": z,
                             "P>|z|": 2 * stats.norm.sf(np.abs(z)),
                             f"[{alpha / 2:g}": val - q * se, f"{1 - alpha / 2:g}]": val + q * se},
                            index=pd.Index(attributes, name=f"per unit, in {cost}"))

    def iia_test(self, drop):
        """Hausman-McFadden test of the independence of irrelevant
        alternatives: refit without the alternative ``drop`` (cases that
        chose it removed) and compare the coefficients both models estimate,
        ``H = d' (V_r - V_f)^+ d`` with ``d = b_r - b_f``, chi2 with the rank
        of ``V_r - V_f`` degrees of freedom (Hausman and McFadden 1984).
        Alternative-specific constants are compared as well, the base
        alternative cannot be dropped; both covariances are model-based
        (inverse information), whatever ``cov_type`` the fit used. Returns a :class:`ChiSquareTest`
        (``statistic``, ``df``, ``pvalue``)."""
        m = self.model
        if drop not in m.alternatives:
            raise ValueError(f"{drop!r} is not an alternative ({m.alternatives})")
        if drop == m.base_alternative:
            raise ValueError("the base alternative cannot be dropped: refit with another base=")
        if getattr(m, "weight_type", None) == "prob":
            raise ValueError("the Hausman-McFadden test compares model-based covariances "
                             "(the efficient estimator under IIA); with prob_weights there "
                             "is none")
        sub = m._drop_alternative(drop)
        fit_r = sub.fit(cov_type="nonrobust")
        names = [n for n in fit_r.model.param_names if n in m.param_names]
        i_f = [m.param_names.index(n) for n in names]
        i_r = [fit_r.model.param_names.index(n) for n in names]
        d = np.asarray(fit_r.params)[i_r] - np.asarray(self.params)[i_f]
        Vr = np.asarray(fit_r.cov_params())[np.ix_(i_r, i_r)]
        # model-based covariances on both sides, whatever cov_type the fit used
        Vf = np.linalg.inv(-m.hessian(np.asarray(self.params, float)))[np.ix_(i_f, i_f)]
        diff = Vr - Vf
        w, v = np.linalg.eigh(0.5 * (diff + diff.T))
        keep = w > 1e-10 * max(abs(w).max(), 1e-300)
        stat = float(((v[:, keep].T @ d) ** 2 / w[keep]).sum())
        df = int(keep.sum())
        test = _inference.ChiSquareTest(stat, df, float(stats.chi2.sf(stat, df)),
                                        f"IIA (Hausman-McFadden), {drop!r} dropped", kind="Hausman")
        if (w < -1e-8 * max(abs(w).max(), 1e-300)).any():
            warnings.warn("V_restricted - V_full is not positive semi-definite: the test "
                          "uses its positive part (common in small samples; a negative "
                          "statistic is evidence for IIA)", RuntimeWarning,
                          stacklevel=_data.user_stacklevel())
        return test


class ChoiceLogitResultsWrapper(LikelihoodResultsWrapper):
    pass


wrap.populate_wrapper(ChoiceLogitResultsWrapper, ChoiceLogitResults)

ChoiceLogit._results_class = ChoiceLogitResults
ChoiceLogit._wrapper_class = ChoiceLogitResultsWrapper
