"""InfluxDB line protocol as Telegraf's influx serializer writes it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from formats.line_protocol import parse_line, parse_lines
from formats.points import FieldValue, Metric

NS = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z
T = 1_700_000_000


def _parse(text: str, **kwargs: object) -> list[Metric]:
    metrics, rejected = parse_lines(text.encode(), **kwargs)  # type: ignore[arg-type]
    assert rejected == []
    return metrics


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (  # the example of InfluxDB's line protocol reference
            'myMeasurement,tag1=value1,tag2=value2 fieldKey="fieldValue" 1556813561098000000',
            Metric(
                "myMeasurement",
                {"tag1": "value1", "tag2": "value2"},
                {"fieldKey": "fieldValue"},
                1556813561.098,
            ),
        ),
        (  # what Telegraf's cpu input looks like through outputs.kafka
            "cpu,cpu=cpu-total,host=web-1 usage_idle=98.5,usage_user=1,usage_iowait=0 " + str(NS),
            Metric(
                "cpu",
                {"cpu": "cpu-total", "host": "web-1"},
                {"usage_idle": 98.5, "usage_user": 1.0, "usage_iowait": 0.0},
                T,
            ),
        ),
        (
            "mem,host=web-1 total=16777216i,used=-5i,free=18446744073709551615u,ok=true " + str(NS),
            Metric(
                "mem",
                {"host": "web-1"},
                {"total": 16777216, "used": -5, "free": 2**64 - 1, "ok": True},
                T,
            ),
        ),
        (
            "m x=1e3,y=-3.5E-2,z=6.02e+23,w=.5,v=-0,u=1.",
            Metric("m", {}, {"x": 1000.0, "y": -0.035, "z": 6.02e23, "w": 0.5, "v": 0.0, "u": 1.0}),
        ),
        ("m value=1", Metric("m", {}, {"value": 1.0})),
        (
            'procstat,host=a state="running",msg="say \\"hi\\" to C:\\\\temp, ok=1 " 1',
            Metric(
                "procstat",
                {"host": "a"},
                {"state": "running", "msg": 'say "hi" to C:\\temp, ok=1 '},
                1e-9,
            ),
        ),
        ('m s=""', Metric("m", {}, {"s": ""})),
        ('m s="not an escape: \\n \\d"', Metric("m", {}, {"s": "not an escape: \\n \\d"})),
        (  # the InfluxDB docs' example of special characters
            '"measurement\\ with\\ quo\u26a1\ufe0fes\\ and\\ emoji",tag\\ key\\ with\\ spaces'
            '=tag\\,value\\,with"commas" '
            'field_k\\ey="string field value, only \\" need be esc\\aped"',
            Metric(
                '"measurement with quo\u26a1\ufe0fes and emoji"',
                {"tag key with spaces": 'tag,value,with"commas"'},
                {"field_k\\ey": 'string field value, only " need be esc\\aped'},
            ),
        ),
        ("cpu\\,01,host=serverA,region=us-west v=1", None),
        ("disk\\ io,path=C:\\Program\\ Files v=1", None),
        ("m,k\\=ey=va\\=l\\,ue,sp\\ ace=a\\ b f\\,ld\\=x\\ y=2i", None),
        ("  m v=1", Metric("m", {}, {"v": 1.0})),
        ("m v=1 " + str(NS) + " ", Metric("m", {}, {"v": 1.0}, T)),
        ("m v=1 -1000000000", Metric("m", {}, {"v": 1.0}, -1.0)),
        ("m v=1,v=2", Metric("m", {}, {"v": 2.0})),
    ],
)
def test_lines(line: str, expected: Metric | None) -> None:
    [metric] = _parse(line)
    if expected is not None:
        assert metric == expected


@pytest.mark.parametrize(
    ("line", "name", "tags", "fields"),
    [
        ("cpu\\,01,host=serverA,region=us-west v=1", "cpu,01", {"host": "serverA"}, None),
        ("disk\\ io,path=C:\\Program\\ Files v=1", "disk io", {"path": "C:\\Program Files"}, None),
        (
            "m,k\\=ey=va\\=l\\,ue,sp\\ ace=a\\ b f\\,ld\\=x\\ y=2i",
            "m",
            {"k=ey": "va=l,ue", "sp ace": "a b"},
            {"f,ld=x y": 2},
        ),
        ("m\\=x v=1", "m\\=x", {}, None),  # '=' is not escaped in a measurement
        # a backslash is only an escape before a special character
        ("m,p=a\\\\,b,q=c v=1", "m", {"p": "a\\,b", "q": "c"}, None),
        ("m,t=tab\\tliteral v=1", "m", {"t": "tab\\tliteral"}, None),
    ],
)
def test_escapes(
    line: str, name: str, tags: dict[str, str], fields: dict[str, FieldValue] | None
) -> None:
    [metric] = _parse(line)
    assert metric.name == name
    assert tags.items() <= metric.tags.items()
    if fields is not None:
        assert metric.fields == fields


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("t", True),
        ("T", True),
        ("true", True),
        ("True", True),
        ("TRUE", True),
        ("f", False),
        ("F", False),
        ("false", False),
        ("False", False),
        ("FALSE", False),
    ],
)
def test_booleans(literal: str, expected: bool) -> None:
    [metric] = _parse(f"m b={literal}")
    assert metric.fields["b"] is expected


@pytest.mark.parametrize(
    ("stamp", "unit", "expected"),
    [
        (NS, "ns", T),
        (NS + 500_000_000, "ns", T + 0.5),
        (T, "s", T),
        (T * 1_000 + 500, "ms", T + 0.5),
        (T * 1_000_000 + 500_000, "us", T + 0.5),
        (T, "auto", T),
        (T * 1_000, "auto", T),
        (T * 1_000_000, "auto", T),
        (NS, "auto", T),
    ],
)
def test_timestamp_units(stamp: int, unit: str, expected: float) -> None:
    [metric] = _parse(f"m v=1 {stamp}", unit=unit)
    assert metric.time == pytest.approx(expected)


def test_default_unit_is_nanoseconds() -> None:
    [metric] = _parse(f"m v=1 {T}")
    assert metric.time == pytest.approx(T / 1e9)


def test_many_lines_comments_blanks_and_crlf() -> None:
    text = (
        "# Telegraf output, one metric a line\r\n"
        f"cpu,host=a usage=1 {NS}\r\n"
        "\r\n"
        "   \n"
        "  # indented comment\n"
        f"mem,host=a used=2i {NS}\r\n"
        f"disk,host=a free=3u {NS}"
    )
    assert [(m.name, m.fields) for m in _parse(text)] == [
        ("cpu", {"usage": 1.0}),
        ("mem", {"used": 2}),
        ("disk", {"free": 3}),
    ]


def test_string_field_with_a_raw_newline_spans_lines() -> None:
    text = f'log,host=a msg="first\nsecond",n=1i {NS}\nm v=1\n'
    assert [(m.name, m.fields) for m in _parse(text)] == [
        ("log", {"msg": "first\nsecond", "n": 1}),
        ("m", {"v": 1.0}),
    ]


def test_default_host_fills_a_missing_host_tag() -> None:
    metrics = _parse("a,host=web-1 v=1\nb v=1", default_host="kafka-key")
    assert [m.tags["host"] for m in metrics] == ["web-1", "kafka-key"]


@pytest.mark.parametrize(
    ("line", "reason", "detail"),
    [
        ("cpu", "bad_line_protocol", "no fields"),
        ("cpu,host=a", "bad_line_protocol", "no fields"),
        ("cpu value", "bad_line_protocol", "no '=value'"),
        ("cpu value=", "bad_line_protocol", "empty value"),
        ("cpu =1", "bad_line_protocol", "no '=value'"),
        ("cpu,host value=1", "bad_line_protocol", "tag 'host'"),
        ("cpu,host= value=1", "bad_line_protocol", "empty value"),
        ("cpu,host=a=b value=1", "bad_line_protocol", "unescaped '='"),
        (",host=a value=1", "bad_line_protocol", "missing measurement"),
        ("cpu value=abc", "bad_line_protocol", "bad field value"),
        ("cpu value=1i2", "bad_line_protocol", "bad field value"),
        ("cpu value=1.5i", "bad_line_protocol", "bad field value"),
        ("cpu value=nan", "bad_line_protocol", "bad field value"),
        ("cpu value=inf", "bad_line_protocol", "bad field value"),
        ("cpu value=-Infinity", "bad_line_protocol", "bad field value"),
        ("cpu value=1_000", "bad_line_protocol", "bad field value"),
        ("cpu value=1e999", "bad_line_protocol", "bad field value"),
        ("cpu value=-1u", "bad_line_protocol", "bad field value"),
        ("cpu value=9223372036854775808i", "bad_line_protocol", "bad field value"),
        ("cpu value=18446744073709551616u", "bad_line_protocol", "bad field value"),
        ("cpu value=yes", "bad_line_protocol", "bad field value"),
        ('cpu value="unterminated', "bad_line_protocol", "unterminated"),
        ('cpu value="a"b', "bad_line_protocol", "unexpected 'b'"),
        ("cpu value=1,", "bad_line_protocol", "no '=value'"),
        ("cpu value=1 12abc", "bad_timestamp", "not an int64"),
        ("cpu value=1 1.5", "bad_timestamp", "not an int64"),
        ("cpu value=1 \u0661\u0662", "bad_timestamp", "not an int64"),  # Arabic digits
        ("cpu value=1 9223372036854775808", "bad_timestamp", "not an int64"),
        ("cpu value=1 " + "1" * 5000, "bad_timestamp", "not an int64"),
        ("cpu value=" + "1" * 5000 + "i", "bad_line_protocol", "bad field value"),
        ("cpu value=1 1 2", "bad_line_protocol", "after the timestamp"),
    ],
)
def test_bad_line_is_rejected_with_its_bytes(line: str, reason: str, detail: str) -> None:
    metrics, [rejected] = parse_lines(line.encode())
    assert metrics == []
    assert (rejected.reason, rejected.original) == (reason, line.encode())
    assert detail in rejected.detail


def test_good_lines_after_a_bad_one_are_kept() -> None:
    payload = b'a v=1\nb v=oops\nc,host=x\nd v=4i\ne v="open\nf v=6\n'
    metrics, rejected = parse_lines(payload)
    assert [m.name for m in metrics] == ["a", "d", "f"]
    assert [(r.reason, r.original) for r in rejected] == [
        ("bad_line_protocol", b"b v=oops"),
        ("bad_line_protocol", b"c,host=x"),
        ("bad_line_protocol", b'e v="open'),
    ]


def test_a_line_that_is_not_utf8_is_rejected_alone() -> None:
    metrics, rejected = parse_lines(b"a v=1\nb,t=\xff v=2\nc v=3")
    assert [m.name for m in metrics] == ["a", "c"]
    assert [(r.reason, r.original) for r in rejected] == [("not_utf8", b"b,t=\xff v=2")]


def test_parse_line_rejects_an_empty_line() -> None:
    with pytest.raises(ValueError, match="empty line"):
        parse_line("   ")


# --- round trip: a test-only serializer following Telegraf's influx serializer rules ---


def _escape(text: str, specials: str) -> str:
    for char in specials:
        text = text.replace(char, "\\" + char)
    return text


def _serialize_value(value: FieldValue, bool_form: int) -> str:
    if isinstance(value, bool):
        return (
            ("t", "T", "true", "True", "TRUE")[bool_form]
            if value
            else ("f", "F", "false", "False", "FALSE")[bool_form]
        )
    if isinstance(value, int):
        return f"{value}u" if value > 2**63 - 1 else f"{value}i"
    if isinstance(value, float):
        return repr(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _serialize(metric: Metric, bool_form: int) -> str:
    line = _escape(metric.name, ", ")
    for key, value in metric.tags.items():
        line += f",{_escape(key, ',= ')}={_escape(value, ',= ')}"
    line += " " + ",".join(
        f"{_escape(key, ',= ')}={_serialize_value(value, bool_form)}"
        for key, value in metric.fields.items()
    )
    if metric.time is not None:
        line += f" {int(metric.time * 1e9)}"
    return line


# Nasty characters first; control characters cannot be carried by line protocol (Telegraf
# writes them as two-character escapes), a trailing backslash is trimmed by Telegraf, and a
# measurement starting with '#' would be a comment.
_NASTY = st.sampled_from(list(' ,="\\=#\u26a1\u00e9'))
_TEXT_CHARS = st.characters(blacklist_categories=("Cs", "Cc"))
_text = st.text(st.one_of(_NASTY, _TEXT_CHARS), min_size=1, max_size=12).filter(
    lambda s: not s.endswith("\\")
)
_name = _text.filter(lambda s: not s.lstrip(" ").startswith("#") and s.strip(" ") == s)
_field_value = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.text(st.one_of(_NASTY, _TEXT_CHARS, st.just("\n")), max_size=20),
)
_metric = st.builds(
    Metric,
    name=_name,
    tags=st.dictionaries(_text, _text, max_size=4),
    fields=st.dictionaries(_text, _field_value, min_size=1, max_size=5),
    time=st.one_of(
        st.none(), st.integers(min_value=-(2**62), max_value=2**62).map(lambda n: n / 1e9)
    ),
)


@settings(max_examples=300, deadline=None)
@given(metrics=st.lists(_metric, min_size=1, max_size=4), bool_form=st.integers(0, 4))
def test_round_trip(metrics: list[Metric], bool_form: int) -> None:
    payload = "\n".join(_serialize(m, bool_form) for m in metrics).encode()
    parsed, rejected = parse_lines(payload)
    assert rejected == []
    assert len(parsed) == len(metrics)
    for got, sent in zip(parsed, metrics, strict=True):
        assert (got.name, got.tags, got.fields) == (sent.name, sent.tags, sent.fields)
        if sent.time is None:
            assert got.time is None
        else:
            assert got.time == int(sent.time * 1e9) / 1e9


def test_an_unterminated_string_does_not_swallow_the_lines_after_it() -> None:
    payload = b'a s="open\n' + b"b v=1\n" * 1000 + b'c s="x"\n'
    metrics, rejected = parse_lines(payload)
    assert len(metrics) == 1001
    assert [(r.reason, r.original) for r in rejected] == [("bad_line_protocol", b'a s="open')]
