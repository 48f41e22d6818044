"""Seeded corruptions of a model file: each one raises ``ValueError`` or loads a
model whose predictions are bitwise the original's -- never another exception
type, never a silently different model. A larger sweep of the same generator:
``python -m pytest tests/test_corruption.py --corruptions 20000``."""

import io
import json
import warnings
import zipfile

import numpy as np
import pytest

import fastmlp
from fastmlp import MLPRegressor

KINDS = ("flip", "truncate", "insert", "delete", "block swap", "word swap", "header")


@pytest.fixture(scope="module")
def model_file():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 6))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MLPRegressor(hidden_layer_sizes=(120, 120), max_iter=2, random_state=0)
        model.fit(X, X[:, 0])
    buffer = io.BytesIO()
    fastmlp.save(model, buffer)
    return buffer.getvalue(), X, model.predict(X)


def entry_data(data, name):
    """``(start, stop)`` of an archive entry's bytes."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(name)
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    return start, start + info.compress_size


def with_header_text(data, edit):
    """The file with its header JSON text passed through ``edit`` (valid CRCs)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    text = edit(np.load(io.BytesIO(members["header.npy"])).tobytes().decode())
    out = io.BytesIO()
    np.save(out, np.frombuffer(text.encode(), dtype=np.uint8))
    members["header.npy"] = out.getvalue()
    result = io.BytesIO()
    with zipfile.ZipFile(result, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return result.getvalue()


def mutate_header(data, rng):
    """The file rewritten with one header value replaced by an odd one (valid CRCs)."""
    odd = [[], {}, None, True, -1, 2**63, 10**30, 1e308, float("nan"), "x", [[[[]]]],
           {"a": [1, {"b": 2}]}]

    def edit(text):
        header = json.loads(text)
        sections = sorted(k for k, v in header.items() if isinstance(v, dict))
        section = rng.choice(sections + [""])
        target = header if section == "" else header[section]
        target[rng.choice(sorted(target))] = odd[rng.integers(len(odd))]
        return json.dumps(header)

    return with_header_text(data, edit)


def corrupt(data, kind, rng):
    data = bytearray(data)
    n = len(data)
    if kind == "flip":
        for _ in range(rng.integers(1, 4)):
            data[rng.integers(n)] ^= 1 << int(rng.integers(8))
    elif kind == "truncate":
        del data[rng.integers(n):]
    elif kind == "insert":
        at = rng.integers(n)
        data[at:at] = rng.bytes(int(rng.integers(1, 16)))
    elif kind == "delete":
        at = rng.integers(n)
        del data[at:at + int(rng.integers(1, 16))]
    elif kind in ("block swap", "word swap"):
        start, stop = entry_data(bytes(data), "params.npy")
        size = 4096 if kind == "block swap" else 8
        a, b = sorted(rng.choice(np.arange(start + 128, stop - size, size), 2, replace=False))
        data[a:a + size], data[b:b + size] = data[b:b + size], data[a:a + size]
    else:
        return mutate_header(bytes(data), rng)
    return bytes(data)


def test_corruptions_raise_value_error_or_load_unchanged(model_file, request):
    data, X, expected = model_file
    count = request.config.getoption("--corruptions")
    rng = np.random.default_rng(12345)
    outcomes = {}
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        bad = corrupt(data, kind, rng)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                loaded = fastmlp.load(io.BytesIO(bad))
                same = np.array_equal(loaded.predict(X), expected)
        except ValueError:
            outcomes[kind, "ValueError"] = outcomes.get((kind, "ValueError"), 0) + 1
            continue
        except Exception as exc:  # noqa: BLE001 - the point is to report any other type
            pytest.fail(f"corruption {i} ({kind}) raised {type(exc).__name__}: {exc}")
        assert same, f"corruption {i} ({kind}) loaded a different model"
        outcomes[kind, "unchanged"] = outcomes.get((kind, "unchanged"), 0) + 1
    assert sum(outcomes.values()) == count
    for kind in KINDS[:6]:  # every byte-level kind is caught at least once
        assert outcomes.get((kind, "ValueError"), 0) > 0, kind


def set_value(section, key, value):
    def edit(text):
        header = json.loads(text)
        (header if section is None else header[section])[key] = value
        return json.dumps(header)
    return edit


def nested(depth):
    return lambda text: text.replace('"alpha":0.0001', '"alpha":' + "[" * depth + "]" * depth)


HEADER_CASES = {  # each raised another exception type before
    "estimator is a list": (set_value(None, "estimator", []), "header field 'estimator'"),
    "step past int64": (set_value("optimizer", "step", [2**63]), "optimizer.step"),
    "huge layer width": (lambda t: t.replace('"units":[6,', '"units":[' + "9" * 30 + ","),
                         "network.units"),
    "JSON nested 900 deep": (nested(900), "nested more than"),
    "JSON nested 5000 deep": (nested(5000), "nested too deeply"),
}


@pytest.mark.parametrize("case", list(HEADER_CASES))
def test_header_damage_is_a_value_error(model_file, case):
    data, _, _ = model_file
    edit, message = HEADER_CASES[case]
    bad = with_header_text(data, edit)
    assert bad != data
    with pytest.raises(ValueError, match=message):
        fastmlp.load(io.BytesIO(bad))


def test_a_missing_first_byte_is_a_value_error(model_file):
    data, _, _ = model_file
    with pytest.raises(ValueError, match="corrupted"):
        fastmlp.load(io.BytesIO(data[1:]))
