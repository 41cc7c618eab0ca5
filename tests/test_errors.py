import pytest

from churnml import EventSource, errors, load
from churnml.cli import main


@pytest.mark.parametrize("name", errors.__all__)
def test_every_error_is_a_churnml_error_and_a_builtin(name):
    cls = getattr(errors, name)
    assert issubclass(cls, errors.ChurnMLError)
    if cls is not errors.ChurnMLError:
        builtin_bases = [b for b in cls.__mro__ if b.__module__ == "builtins" and b not in (object, BaseException, Exception)]
        assert builtin_bases, f"{name} should also derive from a builtin exception"


def test_missing_column_error_prints_its_message_not_a_repr(tmp_path, capsys):
    events = tmp_path / "events.csv"
    events.write_text("user_id,timestamp\nu1,2024-01-01\nu2,2024-01-02\n")
    with pytest.raises(SystemExit) as exit_:
        main(["validate", "--events", str(events), "--user-col", "account"])
    assert exit_.value.code == 1
    stderr = capsys.readouterr().err.strip()
    # one line: churnml's message naming the column and the columns there are, with the CLI's fix
    assert stderr.startswith("error: ") and "\n" not in stderr
    assert "'account'" in stderr and "user_id" in stderr and "timestamp" in stderr
    assert "MissingColumnError" not in stderr and "Traceback" not in stderr and "--user-col <column>" in stderr


def test_validation_error_lists_the_other_problems(tmp_path):
    # two defects in one file: null user ids and a timestamp that is not one
    events = tmp_path / "events.csv"
    events.write_text("user_id,timestamp\nu1,2024-01-01\n,2024-01-02\nu3,not a date\nu4,2024-01-04\n")
    with pytest.raises(errors.ChurnMLError) as caught:
        load(EventSource(events))
    error = caught.value
    text = str(error)
    assert len(error.others) == 1, text
    assert "Also found:" in text and error.others[0] in text and str(error.args[0]) in text
    named = {error.column, *("user_id" if "user_id" in o else "timestamp" for o in error.others)}
    assert named == {"user_id", "timestamp"} and error.n_bad == 1
