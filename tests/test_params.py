import pytest

from workbench import params as P


def test_int_coerces_cli_strings_and_checks_range():
    spec = P.Int("epochs", 10, minimum=1, maximum=1000)
    assert spec.coerce("25") == 25
    assert spec.coerce(3.0) == 3
    assert spec.validate("0") == "epochs: 0 is below the minimum 1"
    assert spec.validate("abc").startswith("epochs: expected a whole number")
    assert spec.validate(True) is not None


def test_float_rejects_nan_and_keeps_log_hint():
    spec = P.Float("lr", 1e-3, minimum=0.0, log_scale=True)
    assert spec.coerce("1e-4") == pytest.approx(1e-4)
    assert "finite" in spec.validate("nan")
    assert spec.to_json()["log_scale"] is True


def test_bool_and_choice():
    assert P.Bool("x", False).coerce("yes") is True
    assert P.Bool("x", False).coerce("off") is False
    assert P.Bool("x").validate("maybe") is not None
    choice = P.Choice("optimizer", "adam", choices=("adam", "sgd"))
    assert choice.validate("sgd") is None
    assert "not one of adam, sgd" in choice.validate("rmsprop")


def test_columns_from_comma_text_or_json():
    spec = P.Columns("columns")
    assert spec.coerce("a, b,c") == ["a", "b", "c"]
    assert spec.coerce('["x y", "z"]') == ["x y", "z"]
    assert spec.coerce(None) == []


def test_layer_stack_list_fills_defaults_and_validates_fields():
    layers = P.ListOf(
        "layers",
        default=({"units": 128, "activation": "relu"},),
        fields=(
            P.Int("units", 64, minimum=1),
            P.Choice("activation", "relu", choices=("relu", "tanh")),
            P.Float("dropout", 0.0, minimum=0.0, maximum=0.9),
        ),
        min_items=1,
    )
    assert layers.coerce('[{"units": 32}]') == [{"units": 32, "activation": "relu", "dropout": 0.0}]
    assert "item 1: units: 0 is below the minimum 1" in layers.validate([{"units": 0}])
    assert "unknown field" in layers.validate([{"units": 3, "colour": "red"}])
    assert "at least 1" in layers.validate([])
    assert P.default_values([layers]) == {"layers": [{"units": 128, "activation": "relu"}]}


def test_defaults_are_fresh_copies():
    spec = P.Columns("columns", default=("a",))
    first, second = P.default_values([spec]), P.default_values([spec])
    first["columns"].append("b")
    assert second["columns"] == ["a"]


def test_visibility_condition_skips_hidden_checks():
    specs = [
        P.Choice("scheduler", "none", choices=("none", "step")),
        P.Int("step_size", 10, minimum=1, visible_if={"scheduler": "step"}),
    ]
    assert P.problems(specs, {"scheduler": "none", "step_size": 0}) == {}
    assert "step_size" in P.problems(specs, {"scheduler": "step", "step_size": 0})
    assert P.resolve(specs, {"scheduler": "step", "step_size": "5"})["step_size"] == 5


def test_json_round_trip_of_specs_is_plain_json():
    import json

    spec = P.Path("path", "", filters=("*.csv", "*.parquet"), help="data file")
    assert json.loads(json.dumps(spec.to_json()))["filters"] == ["*.csv", "*.parquet"]
    assert spec.validate("") == "path: choose a file"
