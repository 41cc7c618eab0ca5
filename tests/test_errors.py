import pytest

from churnml import errors


@pytest.mark.parametrize("name", errors.__all__)
def test_every_error_is_a_churnml_error_and_a_builtin(name):
    cls = getattr(errors, name)
    assert issubclass(cls, errors.ChurnMLError)
    if cls is not errors.ChurnMLError:
        builtin_bases = [b for b in cls.__mro__ if b.__module__ == "builtins" and b not in (object, BaseException, Exception)]
        assert builtin_bases, f"{name} should also derive from a builtin exception"


def test_missing_column_error_prints_its_message_not_a_repr():
    error = errors.MissingColumnError("no column 'x'")
    assert str(error) == "no column 'x'"


def test_validation_error_lists_the_other_problems():
    error = errors.NullUserIdError("first problem", column="u", n_bad=3)
    error.others = ["second problem"]
    assert "first problem" in str(error) and "second problem" in str(error)
    assert error.n_bad == 3 and error.column == "u"
