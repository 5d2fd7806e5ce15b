"""The plug-in contracts: families and plan forms are abstract classes whose missing methods fail when the plug-in is
created, every declared form loads, and every strategy's per-form solver exists."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from accelplan import families
from accelplan.execution import ExecutionModel, Form
from accelplan.execution.form import PlanForm
from accelplan.plan import AcceleratorPlan
from accelplan.plugins import resolve
from accelplan.solvers.registry import STRATEGIES, Feature, with_feature


def test_a_family_missing_tabulate_cannot_be_created() -> None:
    @dataclass(frozen=True)
    class Half(families.Family):
        def dtypes(self, hw):
            return ("int8",)

    with pytest.raises(TypeError, match="abstract method.*tabulate"):
        Half(name="half", spec=object, executions=(ExecutionModel("one", Form.PIPELINE, "", single=True),),
             default_strategy="dp", baseline_execution="one")


def test_register_refuses_what_is_not_a_family() -> None:
    with pytest.raises(TypeError, match="is not a Family"):
        families.register(object())  # type: ignore[arg-type]


def test_a_form_missing_plan_groups_cannot_be_created() -> None:
    class Half(PlanForm):
        name, group, accelerator, replay, streams = "half", tuple, AcceleratorPlan, "x:y", True

        def metrics(self, problem, groups, check_bounds=True):
            raise NotImplementedError

        def plan(self, problem, groups, solver=None, check_bounds=True):
            raise NotImplementedError

    with pytest.raises(TypeError, match="abstract method.*plan_groups"):
        Half()


def test_a_form_missing_a_declaration_fails_when_defined() -> None:
    with pytest.raises(TypeError, match="does not declare replay"):
        class NoReplay(PlanForm):
            name, group, accelerator, streams = "x", tuple, AcceleratorPlan, True

            def metrics(self, problem, groups, check_bounds=True): ...
            def plan(self, problem, groups, solver=None, check_bounds=True): ...
            def plan_groups(self, problem, plan): ...


@pytest.mark.parametrize("form", list(Form), ids=lambda f: f.label)
def test_every_form_loads_and_names_its_replay(form: Form) -> None:
    model = form.model
    assert isinstance(model, PlanForm) and model.name == form.label
    assert issubclass(model.accelerator, AcceleratorPlan) and hasattr(model.group, "_fields")
    assert callable(resolve(model.replay))


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_every_implementation_resolves(name: str) -> None:
    strategy = STRATEGIES[name]
    assert strategy.forms, "a strategy covers at least one form"
    for form, impl in strategy.implementations.items():
        assert callable(resolve(impl.solver)), (name, form)
    if Feature.MULTI_OBJECTIVE in strategy.features:
        assert callable(resolve(strategy.front))


def test_features_are_declared_not_named() -> None:
    assert with_feature(Feature.MULTI_OBJECTIVE) == ["optuna-nsga2"]
    assert set(with_feature(Feature.PROVES)) == {"dp", "colgen", "milp", "cpsat", "exhaustive"}
