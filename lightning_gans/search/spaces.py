"""The paper's random-search spaces, turned into optuna suggestions and GAN keyword arguments.

The spaces are data (lightning_gans/configs/spaces.yaml), one entry per row of the paper's table, so that they can be
checked against docs/protocol.md by eye; this module only reads them and maps them onto optuna calls. Every search
starts with the authors' setting of its loss as trial 0 (the paper always runs it), and that trial must train exactly
that setting even where it lies outside a narrow range or differs from a value the space fixes.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from pathlib import Path

import optuna
import yaml

from ..registry import UnknownNameError
from ..resources import CONFIGS, SPACES_FILE
from ..training.losses import LOSSES
from ..training.module import GAN

KINDS: tuple[str, ...] = ("uniform", "log_uniform", "choice", "fixed")
AUTHORS_SETTING_ATTR = "authors_setting"
"""User attr the caller sets (True) on the enqueued authors' trial, so trial_arguments can recognise it."""
ARGUMENTS_ATTR = "arguments"
"""User attr: every GAN argument the trial overrides (drawn, fixed by the space, or the authors'), as its config has
them; Optuna's params are only the drawn ones."""

LOSS_CONFIGS = CONFIGS / "losses"


@dataclass(frozen=True)
class Parameter:
    """One GAN argument of a search space.

    `values` is (low, high) for uniform and log_uniform (bounds as values, not exponents), the choices for
    choice, and (value,) for fixed.
    """

    name: str
    kind: str
    values: tuple

    def __post_init__(self) -> None:
        # Checked here so that a typo in spaces.yaml fails when the space is read, not after hours of trials.
        if self.kind not in KINDS:
            raise ValueError(f"parameter {self.name!r}: kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.kind in ("uniform", "log_uniform"):
            low, high = self.values
            if not (0 < low < high if self.kind == "log_uniform" else low < high):
                raise ValueError(f"parameter {self.name!r}: bad {self.kind} bounds {self.values!r}")
        elif self.kind == "fixed" and len(self.values) != 1:
            raise ValueError(f"parameter {self.name!r}: fixed takes one value, got {self.values!r}")
        elif self.kind == "choice" and len(self.values) < 2:
            raise ValueError(f"parameter {self.name!r}: choice needs at least two values, got {self.values!r}")


@functools.cache
def _read_yaml(path: Path) -> dict:
    """Parsed once per process: trial_arguments reads two files per trial, and pure-Python YAML is slow.

    Callers must not mutate the result.
    """
    return yaml.safe_load(path.read_text())


SPACES: tuple[str, ...] = tuple(_read_yaml(SPACES_FILE)["spaces"])
"""The spaces of configs/spaces.yaml, in its order: a new space is a new entry there and a column of its rows."""


def paper_trials(space: str) -> int:
    """A study's trial count in the paper's protocol: 100 for the wide space, 50 for the narrow one."""
    _check_space(space)
    return int(_read_yaml(SPACES_FILE)["spaces"][space]["trials"])


def _check_space(space: str) -> None:
    if space not in SPACES:
        raise UnknownNameError(f"unknown search space {space!r}; valid search space names: {', '.join(SPACES)}")


def _parse(name: str, entry: dict) -> Parameter:
    """One `{kind: values}` mapping of spaces.yaml as a Parameter."""
    if not isinstance(entry, dict) or len(entry) != 1:
        raise ValueError(f"{SPACES_FILE}: parameter {name!r} must give exactly one of {', '.join(KINDS)}")
    ((kind, values),) = entry.items()
    if kind == "fixed":
        return Parameter(name, kind, (values,))
    if kind in ("uniform", "log_uniform"):
        # YAML reads 0 as an int; the bounds and every value drawn between them are floats.
        return Parameter(name, kind, tuple(float(value) for value in values))
    return Parameter(name, kind, tuple(values))


def search_space(loss: str, space: str) -> list[Parameter]:
    """The parameters searched (or fixed) for `loss` in `space`, in the order of the paper's table."""
    LOSSES.get(loss)
    _check_space(space)
    table = _read_yaml(SPACES_FILE)["parameters"]
    unsearched = LOSSES.get(loss).unsearched
    parameters = []
    for name, row in table.items():
        overrides = row.get("by_loss", {})
        for listed in (*row.get("losses", []), *overrides):
            LOSSES.get(listed)  # a misspelt loss in the file would otherwise silently drop or keep a parameter
        if space not in row:
            raise ValueError(f"{SPACES_FILE}: parameter {name!r} gives no entry for space {space!r}")
        if loss in row.get("losses", [loss]) and name not in unsearched:
            parameters.append(_parse(name, overrides.get(loss, {}).get(space, row[space])))
    return parameters


def parameter_names() -> list[str]:
    """Every searched GAN argument of any loss, in the order of the paper's table."""
    return list(_read_yaml(SPACES_FILE)["parameters"])


def suggest(trial: optuna.Trial, parameters: list[Parameter]) -> dict[str, object]:
    """Draws every parameter from `trial`; fixed ones are not optuna parameters and are returned as they are.

    An enqueued value outside a float range is returned as enqueued (optuna only warns), which is what lets the
    authors' setting run unchanged inside a narrow space.
    """
    values: dict[str, object] = {}
    for parameter in parameters:
        if parameter.kind == "fixed":
            (value,) = parameter.values
        elif parameter.kind == "choice":
            value = trial.suggest_categorical(parameter.name, list(parameter.values))
        else:
            low, high = parameter.values
            # float(): optuna hands back an enqueued int (e.g. 10 for gp_lambda) unconverted.
            value = float(trial.suggest_float(parameter.name, low, high, log=parameter.kind == "log_uniform"))
        values[parameter.name] = value
    return values


def authors_setting(loss: str) -> dict[str, object]:
    """The GAN arguments of the authors' setting for `loss`: the package's configs/losses/<loss>.yaml, less the loss.

    A loss registered from outside the package without a YAML (lightning_gans/plugins.py) has no published setting:
    its trial 0 is the GAN module's defaults for the parameters the space searches.
    """
    LOSSES.get(loss)
    path = LOSS_CONFIGS / f"{loss}.yaml"
    if not path.is_file():
        defaults = inspect.signature(GAN).parameters
        return {p.name: defaults[p.name].default for p in search_space(loss, "wide") if p.name in defaults}
    model = dict(_read_yaml(path)["model"])
    model.pop("loss")
    return model


def authors_trial_params(loss: str, space: str) -> dict[str, object]:
    """What to enqueue as trial 0: the authors' values of the parameters `space` searches for `loss`.

    Values outside the space's range are kept on purpose; fixed parameters are left out because they are not
    optuna parameters (trial_arguments restores their authors' values).
    """
    setting = authors_setting(loss)
    return {p.name: setting[p.name] for p in search_space(loss, space) if p.kind != "fixed"}


def trial_arguments(trial: optuna.Trial, loss: str, space: str) -> dict[str, object]:
    """GAN keyword arguments for `trial`: the space's draws on top of the authors' setting.

    Arguments the space does not cover keep the authors' value. On the authors' trial (user attr
    `authors_setting` True) fixed parameters are fixed at the authors' values instead, so that trial reproduces
    the authors' setting exactly (e.g. n_disc 5 for wgan in the narrow space). The result is also the trial's
    `arguments` attribute, so analysis reads what ran, fixed values included, from the storage alone.
    """
    arguments = authors_setting(loss)
    parameters = search_space(loss, space)
    if trial.user_attrs.get(AUTHORS_SETTING_ATTR) is True:
        parameters = [Parameter(p.name, "fixed", (arguments[p.name],)) if p.kind == "fixed" else p for p in parameters]
    arguments.update(suggest(trial, parameters))
    trial.set_user_attr(ARGUMENTS_ATTR, arguments)
    return arguments
