"""Bad `pyrnn` command-line arguments: each exits with status 2 before any work starts, with
argparse's "argument --x: <why>" naming the option and what it expected (never a traceback, a
silently used default, or a run on nonsense sizes)."""
import pytest

from pyrnn.cli import main

BAD = [
    # (argv, option named, expectation in the message)
    (["demo", "date", "--epochs", "0"], "--epochs", "expected an integer >= 1, got 0"),
    (["demo", "date", "--epochs", "-1"], "--epochs", "expected an integer >= 1, got -1"),
    (["demo", "date", "--epochs", "2.5"], "--epochs", "expected an integer >= 1, got '2.5'"),
    (["demo", "addition", "--hidden", "0"], "--hidden", "expected an integer >= 1, got 0"),
    (["demo", "date", "--examples", "-5"], "--examples", "expected an integer >= 1, got -5"),
    (["demo", "date", "--lr", "-0.1"], "--lr", "expected a finite number > 0, got '-0.1'"),
    (["demo", "date", "--lr", "nan"], "--lr", "expected a finite number > 0, got 'nan'"),
    (["demo", "date", "--lr", "fast"], "--lr", "expected a number > 0, got 'fast'"),
    (["demo", "date", "--backend", "nope"], "--backend", "unknown backend 'nope'; choose one of reference, cpp"),
    (["demo", "rnnlm", "--corpus", "/no/such/file.txt"], "--corpus", "no such file: '/no/such/file.txt'"),
    (["demo", "rnnlm", "--corpus", "/"], "--corpus", "no such file: '/'"),
    (["demo", "rnnlm", "--vocab", "1"], "--vocab", "expected 0 (keep all) or an integer >= 2, got 1"),
    (["demo", "rnnlm", "--vocab", "-3"], "--vocab", "expected 0 (keep all) or an integer >= 2, got -3"),
    (["demo", "rnnlm", "--vocab", "all"], "--vocab", "expected 0 (keep all) or an integer >= 2, got 'all'"),
    (["demo", "dates"], "task", "invalid choice: 'dates'"),
    (["demo", "date", "--seed", "x"], "--seed", "invalid int value: 'x'"),
    (["demo", "date", "--beam", "0"], "--beam", "expected an integer >= 1, got 0"),
    (["bench", "--shape", "0,5,4,4"], "--shape", "expected N,T,D,H all >= 1, got '0,5,4,4'"),
    (["bench", "--shape", "1,2,3"], "--shape", "expected N,T,D,H (four integers), got '1,2,3'"),
    (["bench", "--repeat", "0"], "--repeat", "expected an integer >= 1, got 0"),
    (["bench", "--backend", "cuDNN"], "--backend", "unknown backend 'cuDNN'"),
    (["bench", "--dtype", "float16"], "--dtype", "invalid choice: 'float16'"),
    (["bench", "--op", "transformer"], "--op", "invalid choice: 'transformer'"),
    (["gradcheck", "--tol", "-1"], "--tol", "expected a finite number > 0, got '-1'"),
    (["gradcheck", "--backend", "nope"], "--backend", "unknown backend 'nope'"),
]


@pytest.mark.parametrize("argv, option, why", BAD, ids=[" ".join(a) for a, _, _ in BAD])
def test_bad_argument_exits_2_naming_the_option(argv, option, why, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: " in err or f"argument {option}:" in err.replace("\n", " ")
    assert why in err


def test_out_must_not_be_an_existing_file(tmp_path, capsys):
    f = tmp_path / "plots"
    f.write_text("not a folder")
    with pytest.raises(SystemExit) as e:
        main(["demo", "date", "--out", str(f)])
    assert e.value.code == 2
    assert f"argument --out: '{f}' exists and is not a folder" in capsys.readouterr().err


def test_no_subcommand_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        main([])
    assert e.value.code == 2 and "usage: pyrnn" in capsys.readouterr().err
