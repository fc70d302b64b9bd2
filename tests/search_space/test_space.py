"""Space-level rules: names, conditions, cycles, order; and files that round-trip exactly."""

import json

import pytest

from search_space import (
    CategoricalParam,
    Condition,
    IntParam,
    SearchSpace,
    SpaceError,
    dumps,
    load_space,
    loads,
    save_space,
    shipped_spaces,
    space_from_dict,
)


def _space(*params):
    return SearchSpace(tuple(params))


def test_duplicate_names_are_refused():
    with pytest.raises(SpaceError, match="parameter 'a': duplicate name"):
        _space(IntParam(name="a", low=1, high=2), IntParam(name="a", low=1, high=3))


def test_condition_on_unknown_parent_is_refused():
    with pytest.raises(SpaceError, match="parameter 'b': condition on unknown parent 'zz'"):
        _space(IntParam(name="b", low=1, high=2, when=Condition("zz", (1,))))


def test_condition_on_value_the_parent_cannot_take_is_refused():
    with pytest.raises(SpaceError, match=r"parameter 'conv3': condition on 'blocks' in \[4\], but 'blocks' can never take 4"):
        _space(IntParam(name="blocks", low=2, high=3), IntParam(name="conv3", low=1, high=2, when=Condition("blocks", (4,))))


def test_cyclic_conditions_are_refused():
    with pytest.raises(SpaceError, match="cyclic conditions: a -> b -> a|cyclic conditions: b -> a -> b"):
        _space(
            CategoricalParam(name="a", choices=[1, 2], when=Condition("b", (1,))),
            CategoricalParam(name="b", choices=[1, 2], when=Condition("a", (1,))),
        )


def test_parents_are_ordered_before_children():
    space = _space(
        IntParam(name="child", low=1, high=2, when=Condition("parent", (3,))),
        IntParam(name="parent", low=2, high=3),
    )
    assert space.names == ("parent", "child")


def test_violations_detect_missing_extra_and_out_of_domain_values():
    space = load_space(shipped_spaces()["conditional_cnn"])
    good = {p.name: p.grid()[0] if p.grid() else p.low for p in space if p.when is None}
    assert space.violations(good) == []
    assert "present although its condition does not hold" in space.violations({**good, "conv3_filters": 32})[0]
    assert "missing although its condition holds" in space.violations({**good, "n_conv_blocks": 3})[0]
    assert "outside its domain" in space.violations({**good, "dense": 100})[0]


@pytest.mark.parametrize("name", sorted(shipped_spaces()))
@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_shipped_spaces_round_trip_exactly(name, fmt, tmp_path):
    space = load_space(shipped_spaces()[name])
    assert loads(dumps(space, fmt), fmt) == space
    path = save_space(space, tmp_path / f"s.{'yml' if fmt == 'yaml' else fmt}")
    assert load_space(path) == space


def test_seed_space_is_the_tutorial_space():
    space = load_space(shipped_spaces()["seed_cnn"])
    assert space["dense"].grid() == (128, 256, 512)
    assert space["conv1_filters"].grid() == (32, 40, 48, 56, 64)
    assert space["conv2_kernel"].grid() == (3, 5, 7)
    assert space["dropout"].grid() == (0.1, 0.2, 0.3, 0.4, 0.5)
    assert (space["learning_rate"].low, space["learning_rate"].high, space["learning_rate"].log) == (1e-4, 1e-3, True)
    assert space["batch_size"].grid() == (64, 128, 256)


def test_yaml_reads_exponent_floats_as_numbers():
    space = loads("parameters:\n- {name: lr, type: float, low: 1e-4, high: 1e-2, log: true}\n")
    assert space["lr"].low == 1e-4


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"parameters": [{"name": "a", "type": "integer", "low": 1, "high": 2}]}, "parameter 'a': unknown type 'integer'; known types: int, float, categorical, bool, fixed"),
        ({"parameters": [{"name": "a", "type": "int", "low": 1, "high": 2, "stp": 1}]}, "parameter 'a': unknown key 'stp' for type 'int'"),
        ({"parameters": [{"name": "a", "type": "int", "low": 1}]}, "parameter 'a': missing required key 'high'"),
        ({"parameters": [{"type": "int", "low": 1, "high": 2}]}, "parameter #1: missing required key 'name'"),
        ({"params": []}, "unknown top-level key 'params'"),
        ({"parameters": []}, "'parameters' must be a non-empty list"),
        ({"parameters": [{"name": "a", "type": "int", "low": 1, "high": 2, "when": {"parent": "b"}}]}, "parameter 'a': `when` must be a mapping with exactly the keys"),
    ],
)
def test_bad_dicts_name_the_problem(data, message):
    with pytest.raises(SpaceError) as info:
        space_from_dict(data)
    assert message in str(info.value)


def test_every_problem_is_reported_not_just_the_first():
    with pytest.raises(SpaceError) as info:
        space_from_dict({"parameters": [
            {"name": "a", "type": "int", "low": 3, "high": 1},
            {"name": "b", "type": "categorical", "choices": []},
        ]})
    assert len(info.value.problems) == 2


@pytest.mark.parametrize(("suffix", "text", "message"), [
    (".yaml", "parameters: [ {name: a", "not valid YAML"),
    (".json", '{"parameters": [', "not valid JSON"),
    (".toml", "x = 1", "unknown space file extension '.toml'"),
])
def test_bad_files_are_refused_naming_the_file(tmp_path, suffix, text, message):
    path = tmp_path / f"bad{suffix}"
    path.write_text(text)
    with pytest.raises(SpaceError) as info:
        load_space(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(SpaceError, match="cannot read space file"):
        load_space(tmp_path / "nope.yaml")


def test_json_file_is_plain_json(tmp_path):
    space = load_space(shipped_spaces()["conditional_cnn"])
    data = json.loads(dumps(space, "json"))
    conv3 = next(p for p in data["parameters"] if p["name"] == "conv3_filters")
    assert conv3["when"] == {"parent": "n_conv_blocks", "in": [3]}
