"""`molar sentiment train|classify|score|evaluate|heldout`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from molar.ui.console import console, err_console, progress_bar
from molar.ui.options import (
    JsonOpt,
    WarehouseOpt,
    fail,
    failing_on,
    open_engine,
    print_json,
    settings_from,
    warehouse_engine,
)

sentiment_app = typer.Typer(
    help="Sentiment of consult messages and reviews: satisfied, doubt, complaint, neutral.",
    no_args_is_help=True,
)

DEFAULT_MODEL_FILE = "molar-sentiment.skops"
ModelOpt = Annotated[Path | None, typer.Option(
    "--model", "-m", help="Model file (default: $MOLAR_SENTIMENT_MODEL if set).")]


def _env_model() -> Path | None:
    value = os.environ.get("MOLAR_SENTIMENT_MODEL", "").strip()
    return Path(value) if value else None


def _load_model(path: Path | None):
    """--model, else $MOLAR_SENTIMENT_MODEL if that file exists, else train on the shipped corpus."""
    from molar.profile.sentiment.model import (
        ModelFormatError,
        SentimentModel,
        load_corpus,
        train,
    )

    if path is None:
        env = _env_model()
        if env is not None and env.is_file():
            path = env
    if path is not None:
        if not path.is_file():
            raise fail(f"model file {path} not found; create it with `molar sentiment train --model {path}`")
        with failing_on(ModelFormatError):
            return SentimentModel.load(path)
    err_console.print("no model file given: training on the shipped corpus …", style="dim")
    with failing_on(ValueError):
        return train(*load_corpus())


def _metrics_table(metrics: dict, title: str) -> Table:
    table = Table(title=title)
    table.add_column("label")
    for col in ("precision", "recall", "F1", "examples"):
        table.add_column(col, justify="right")
    for label, m in metrics["per_class"].items():
        table.add_row(label, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", f"{m['support']:,}")
    mf = metrics["macro_f1"]
    macro = f"{mf['mean']:.3f} ± {mf['std']:.3f}" if isinstance(mf, dict) else f"{mf:.3f}"
    table.add_section()
    table.add_row("[bold]macro-F1[/]", "", "", f"[bold]{macro}[/]", "")
    table.add_row("accuracy", "", "", f"{metrics['accuracy']:.3f}", "")
    return table


@sentiment_app.command("train")
def train_command(
    labels: Annotated[Path | None, typer.Option(
        "--labels", help="The clinic's own labelled file (CSV/TSV with columns text,label, or "
        "JSONL); default: the corpus shipped with Molar.")] = None,
    add_to_corpus: Annotated[bool, typer.Option(
        "--add-to-corpus", help="With --labels: train on the shipped corpus and the file together.")] = False,
    model: Annotated[Path | None, typer.Option(
        "--model", "-m", help=f"Where to save the model (default: $MOLAR_SENTIMENT_MODEL, or "
        f"{DEFAULT_MODEL_FILE} in the current folder).")] = None,
    folds: Annotated[int, typer.Option(
        "--folds", min=0, help="Cross-validation folds for the reported metrics (0: skip).")] = 5,
    as_json: JsonOpt = False,
) -> None:
    """Cross-validate, train on all the examples and save the model."""
    from molar.profile.sentiment.model import cross_validate, load_corpus, train

    if add_to_corpus and labels is None:
        raise fail("--add-to-corpus needs --labels FILE")
    with failing_on(ValueError):
        if labels is None:
            texts, ys = load_corpus()
        else:
            texts, ys = load_corpus(labels)
            if add_to_corpus:
                base_texts, base_ys = load_corpus()
                texts, ys = base_texts + texts, base_ys + ys
    target = model or _env_model() or Path(DEFAULT_MODEL_FILE)
    metrics = None
    if folds:
        counts = {y: ys.count(y) for y in set(ys)}
        usable = min(folds, min(counts.values()))
        if len(counts) < 2:
            raise fail("the labelled examples have only one label; training needs at least two")
        if usable < 2:
            err_console.print(f"cross-validation skipped: a label has only {min(counts.values())} example(s)")
        else:
            if usable < folds:
                err_console.print(f"cross-validating with {usable} folds (the rarest label has {usable} examples)")
            with progress_bar() as bar:
                bar.add_task(f"{usable}-fold cross-validation", total=None)
                metrics = cross_validate(texts, ys, folds=usable)
    with failing_on(ValueError):
        trained = train(texts, ys)
    try:
        trained.save(target)
    except OSError as exc:
        raise fail(f"cannot save the model to {target}: {exc}") from exc
    result = {
        "model": str(target),
        "model_version": trained.version,
        "examples": len(texts),
        "per_label": {y: ys.count(y) for y in trained.labels},
        "cross_validation": metrics,
    }
    if as_json:
        print_json(result)
        return
    if metrics:
        console.print(_metrics_table(metrics, f"{metrics['folds']}-fold cross-validation, {len(texts):,} examples"))
    console.print(f"model [bold]{trained.version}[/] trained on {len(texts):,} examples, saved to {target}")


def _read_lines(file: str) -> list[str]:
    if file == "-":
        data = sys.stdin.buffer.read()
        name = "standard input"
    else:
        path = Path(file)
        if not path.exists():
            raise fail(f"{file}: file not found")
        if path.is_dir():
            raise fail(f"{file} is a folder; give a text file with one message per line")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise fail(f"cannot read {file}: {exc.strerror or exc}") from exc
        name = file
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise fail(f"{name} is not UTF-8 (line {line}, byte {exc.start}); save it as UTF-8") from exc
    text = text.removeprefix("\ufeff")
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the newline that ends the last line does not start another
    return [line.removesuffix("\r") for line in lines]


@sentiment_app.command("classify")
def classify_command(
    file: Annotated[str, typer.Argument(help="UTF-8 text, one message per line; - reads standard input.")],
    model: ModelOpt = None,
    with_aspects: Annotated[bool, typer.Option(
        "--aspects", help="After each complaint's label, a tab and what it is about "
        "(attitude, waiting, price, pain, result, hygiene, booking), comma-separated.")] = False,
) -> None:
    """Print one label per input line, in order (blank lines are neutral). Nothing else goes to stdout."""
    from molar.profile.sentiment.aspects import complaint_aspects

    lines = _read_lines(file)
    classifier = _load_model(model)
    labels = classifier.predict(lines)
    if with_aspects:
        labels = [f"{label}\t{','.join(complaint_aspects(line))}" if label == "complaint" else label
                  for line, label in zip(lines, labels, strict=True)]
    out = sys.stdout
    out.write("".join(f"{label}\n" for label in labels))
    out.flush()


def _counts_table(summary: dict) -> Table:
    from molar.model.codes import SENTIMENTS

    table = Table(title=f"Text sentiment (model {summary['model_version']})")
    table.add_column("kind")
    for label in SENTIMENTS:
        table.add_column(label, justify="right")
    table.add_column("total", justify="right")
    for kind, counts in summary["by_kind"].items():
        table.add_row(kind, *(f"{counts.get(y, 0):,}" for y in SENTIMENTS), f"{sum(counts.values()):,}")
    table.add_section()
    table.add_row("all", *(f"{summary['by_label'].get(y, 0):,}" for y in SENTIMENTS), f"{summary['texts']:,}")
    return table


@sentiment_app.command("score")
def score_command(warehouse: WarehouseOpt = None, model: ModelOpt = None, as_json: JsonOpt = False) -> None:
    """Classify every consult message and review text into profile.text_sentiment."""
    from molar.profile.sentiment.score import score_texts

    classifier = _load_model(model)
    settings = settings_from(warehouse)
    with open_engine(settings) as engine, progress_bar() as bar:
        task = bar.add_task("sentiment", total=None)
        summary = score_texts(engine, classifier,
                              progress=lambda done, total: bar.update(task, completed=done, total=total))
    if as_json:
        print_json(summary)
    else:
        console.print(_counts_table(summary))
        console.print(f"{summary['texts']:,} texts in {summary['seconds']} s")


@sentiment_app.command("evaluate")
def evaluate_command(
    truth: Annotated[Path, typer.Argument(help="Truth folder of a synthetic chain (holds consult_labels.parquet).")],
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare the scored consult labels with a synthetic chain's ground truth."""
    from molar.profile.sentiment.evaluate import evaluate_on_truth

    with warehouse_engine(warehouse) as engine, failing_on(ValueError):
        result = evaluate_on_truth(engine, truth)
    if as_json:
        print_json(result)
        return
    console.print(_metrics_table(result, f"Consult sentiment vs ground truth ({result['consults']:,} consults)"))
    console.print(_confusion_table(result))


def _confusion_table(result: dict) -> Table:
    labels = result["confusion"]["labels"]
    matrix = Table(title="Confusion (rows: truth, columns: predicted)")
    matrix.add_column("")
    for y in labels:
        matrix.add_column(y, justify="right")
    for y, row in zip(labels, result["confusion"]["matrix"], strict=True):
        matrix.add_row(y, *(f"{v:,}" for v in row))
    return matrix


@sentiment_app.command("heldout")
def heldout_command(model: ModelOpt = None, as_json: JsonOpt = False) -> None:
    """Labels and complaint aspects on the hand-labelled held-out split that training never reads."""
    from molar.profile.sentiment.evaluate import evaluate_heldout

    result = evaluate_heldout(_load_model(model))
    if as_json:
        print_json(result)
        return
    console.print(_metrics_table(result, f"Held-out split ({result['messages']:,} messages)"))
    console.print(_confusion_table(result))
    table = Table(title=f"Aspects of the {result['aspects']['complaints']} held-out complaints")
    for col in ("aspect", "precision", "recall", "labelled"):
        table.add_column(col, justify="left" if col == "aspect" else "right")
    for code, m in result["aspects"]["per_aspect"].items():
        table.add_row(code, *("—" if m[k] is None else f"{m[k]:.3f}" for k in ("precision", "recall")), str(m["labelled"]))
    console.print(table)
    missed = result["complaint_as_satisfied"]
    console.print(f"complaints labelled satisfied: {len(missed)}" + "".join(f"\n  {t}" for t in missed))


def register(app: typer.Typer) -> None:
    app.add_typer(sentiment_app, name="sentiment")
