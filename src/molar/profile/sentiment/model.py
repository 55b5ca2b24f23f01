"""Consult-sentiment classifier: normalisation, features, training, cross-validation, persistence.

The model is one scikit-learn ``Pipeline``:

1. **normalise** every text once (``normalise``): Unicode NFKC (full-width letters, digits and
   punctuation become half-width), traditional → simplified Chinese (zhconv), lower case,
   exclamation marks dropped, runs of the same punctuation mark collapsed to one, whitespace
   collapsed;
2. a ``FeatureUnion`` of two TF-IDF views (sublinear tf) of the normalised text:
   - jieba words, unigrams and bigrams, where the two words after a negator (不, 没有, 别, …)
     in the same clause are marked: 没有一点耐心 → 没有 ¬一点 ¬耐心, plus one polarity token
     (☺/☹) per word of praise or complaint from ``polarity.yaml``, flipped when negated or in
     scare quotes. jieba runs offline from a private ``jieba.Tokenizer`` (the global one is
     untouched), initialised quietly on first use;
   - character 1–3-grams, which carry the model on words jieba splits badly or never saw;
3. ``LogisticRegression`` (multinomial, C=10, newton-cg solver);
4. three rules that keep complaints from passing as other labels (``decide``): complaint
   precedence for the clauses after a contrast (但是, 不过, …), a complaint floor for texts
   labelled satisfied, and faint praise or sarcastic thanks (真的很一般, 谢谢你们的冷脸) never
   satisfied.

Choices, by 5-fold stratified CV macro-F1 on the shipped corpus (the tables of every variant
tried, with their numbers, are in docs/sentiment.md; the figures below are from the first,
1,670-line corpus, before the complaint rules):

- Words and characters together beat either view alone (words only 0.889, characters only
  0.900, both 0.904). Character 1–3-grams beat 2–4-grams (0.890) and 1–4-grams (0.901).
- LogisticRegression (0.904) and LinearSVC with sigmoid calibration for probabilities (0.905 at
  C=1) are within noise of each other. Logistic regression is kept because its probabilities
  come from the model itself — no inner calibration folds, so the ``confidence`` we store is the
  model's own — and it trains in well under a second with newton-cg. C between 10 and 30 is
  flat; C=1 is worse (0.895).
- Stripping staff call-note prefixes such as "来电：" (``ModelConfig.strip_prefixes``) did not
  change CV macro-F1 at all, so it is off; collapsing repeated punctuation made no difference
  either and is kept because it makes "？？？" and "?" the same feature for unseen styles.
- Negation marking and dropping "!" are within noise on CV (0.904 with or without) but were kept
  for what they do outside the corpus: the corpus uses "!" mostly in praise (20 satisfied lines
  against 4 complaints), which taught the model that an exclamation means satisfied; and
  without negation scope 没有一点耐心 looked like praise because 耐心 is. On the synthetic
  chain they raise accuracy from 0.880 to 0.887 and macro-F1 from 0.862 to 0.875.

Empty or whitespace-only texts are ``neutral`` with confidence 1.0 and never reach the model.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import logging
import re
import unicodedata
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from molar.model.codes import SENTIMENTS

FORMAT = "molar-sentiment"
FORMAT_VERSION = 2  # 2: a skops archive (1 was a pickle, which could run code when loaded)
# Beyond scikit-learn's own types, the only ones a saved model may name.
MODEL_TYPES = frozenset({
    "molar.profile.sentiment.model.normalise_all",
    "molar.profile.sentiment.model.jieba_words",
    "molar.profile.sentiment.model.jieba_words_negated",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
})
CORPUS_DIR = Path(__file__).parent / "corpus"
EMPTY_LABEL = "neutral"

__all__ = [
    "CORPUS_DIR",
    "FORMAT_VERSION",
    "SENTIMENTS",
    "ModelConfig",
    "ModelFormatError",
    "SentimentModel",
    "cross_validate",
    "default_model",
    "load_corpus",
    "normalise",
    "train",
]


class ModelFormatError(ValueError):
    """A model file that this version of Molar cannot load."""


# --------------------------------------------------------------------------- normalisation

_REPEATED_PUNCT = re.compile(r"([!?,.。，、;；:：~～…\-—=*^_+·])\1+")
_SPACES = re.compile(r"\s+")
# Staff call-note prefixes ("来电：", "回访记录:", "患者来电-") at the very start of a message.
_CALL_PREFIX = re.compile(
    r"^\s*[\[【(]?(?:患者|客户|顾客)?(?:来电|去电|致电|电话|回访|通话|留言|备注|客服)"
    r"(?:记录|内容|咨询|反馈|小结)?[\]】)]?\s*[:\-—]\s*"
)


def _zh_simplify(text: str) -> str:
    import zhconv

    return zhconv.convert(text, "zh-cn")


def normalise(
    text: str | None,
    strip_prefixes: bool = False,
    collapse_punct: bool = True,
    drop_exclamations: bool = True,
) -> str:
    """The text as the features see it (see the module docstring)."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text)
    if not text.isascii():
        text = _zh_simplify(text)
    text = text.lower()
    if strip_prefixes:
        text = _CALL_PREFIX.sub("", text, count=1)
    if drop_exclamations:
        text = text.replace("!", " ")
    if collapse_punct:
        text = _REPEATED_PUNCT.sub(r"\1", text)
    return _SPACES.sub(" ", text).strip()


def normalise_all(texts: Iterable[str], **options: bool) -> list[str]:
    return [normalise(t, **options) for t in texts]


# --------------------------------------------------------------------------- clauses and contrast

_SENTENCE_END = r"[.;?\n。；？]+"
_COMMA = r"[,:~，：～…、\s]+"
_CONTRAST = r"但是|可是|不过|然而|只是|可惜|(?<!不)但(?!愿)|(?<=[,，])就是"
_CONTRAST_WORDS = frozenset({"但是", "可是", "不过", "然而", "只是", "可惜", "但", "就是"})
_PIECES = re.compile(f"({_SENTENCE_END}|{_COMMA}|{_CONTRAST})")


def weighted_clauses(norm: str) -> list[str]:
    """The clauses of a normalised text that carry its weight: a contrast (但是, 不过, 可是, …)
    concedes the clauses before it in its sentence, so 医生很好但是前台态度差 → [前台态度差]."""
    out: list[str] = []
    sentence: list[str] = []
    for piece in _PIECES.split(norm):
        if not piece or re.fullmatch(_COMMA, piece):
            continue
        if piece in _CONTRAST_WORDS:  # the split pattern only isolates a contrast where it is one
            sentence.clear()
        elif re.fullmatch(_SENTENCE_END, piece):
            if sentence:  # a question stays a question
                sentence[-1] += piece.strip()
            out.extend(sentence)
            sentence = []
        else:
            sentence.append(piece)
    out.extend(sentence)
    return out


# --------------------------------------------------------------------------- tokenisation

_jieba: Any = None


def _tokenizer() -> Any:
    global _jieba
    if _jieba is None:
        with warnings.catch_warnings():  # jieba 0.42 has invalid escapes in its regexes
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", SyntaxWarning)
            import jieba

        jieba.setLogLevel(logging.WARNING)
        logging.getLogger("jieba").setLevel(logging.WARNING)
        tok = jieba.Tokenizer()
        tok.initialize()
        for word in _USER_WORDS:
            tok.add_word(word)
        _jieba = tok
    return _jieba


def jieba_words(text: str) -> list[str]:
    """jieba words of a normalised text, whitespace dropped (module level so models pickle)."""
    return [w for w in _tokenizer().lcut(text) if not w.isspace()]


NEGATORS = frozenset({
    "不", "没", "没有", "无", "未", "别", "不是", "没什么", "不太", "不会", "毫无", "并非", "从不",
    "从没", "不够", "不再", "不能", "不用", "不要", "从来不", "从来没", "决不", "绝不",
})
NEGATION_SCOPE = 2
# Degree words between a negator and what it negates do not use up the scope:
# 不是很专业 → 不是 ¬很 ¬专业, 没有想象中好 → 没有 ¬想象 ¬中 ¬好.
_DEGREE = frozenset({"很", "太", "那么", "这么", "怎么", "特别", "非常", "十分", "一点", "一点也", "想象", "中", "那样", "够"})
_CLAUSE_END = re.compile(r"^[\W_]+$")
# Words jieba would split so that a negator lands on the wrong word (不管用 → 不管 / 用).
_USER_WORDS = ("不管用", "不耐烦", "没人管", "没人理", "爱答不理", "不专业", "不满意", "不负责", "一般般", "冷脸",
               "臭脸", "甩脸", "白跑", "白等")


POLARITY_FILE = Path(__file__).parent / "polarity.yaml"
PRAISE_TOKEN, COMPLAINT_TOKEN = "☺", "☹"
_QUOTES = frozenset('"“”「」『』')
_NEGATOR_CHARS = frozenset("不没无未别")


@cache
def polarity() -> tuple[frozenset[str], re.Pattern[str], re.Pattern[str]]:
    """(complaint words, a pattern finding a praise word, one finding a complaint word), from
    ``polarity.yaml``."""
    import yaml

    data = yaml.safe_load(POLARITY_FILE.read_text(encoding="utf-8"))

    def any_of(words: list[str]) -> re.Pattern[str]:
        return re.compile("|".join(map(re.escape, sorted(words, key=len, reverse=True))))

    return frozenset(data["complaint"]), any_of(data["praise"]), any_of(data["complaint"])


def _polarity_token(word: str, negated: bool) -> str | None:
    complaint_words, praise, complaint = polarity()
    if len(word) > 1 and word[0] in _NEGATOR_CHARS and word not in complaint_words:
        word, negated = word[1:], not negated  # jieba's own words 不爽, 没用: the negator is inside
    if complaint.search(word):  # checked first: 不耐烦 holds 耐 but is a complaint
        return PRAISE_TOKEN if negated else COMPLAINT_TOKEN
    if praise.search(word):
        return COMPLAINT_TOKEN if negated else PRAISE_TOKEN
    return None


# Faint praise and sarcastic thanks: praise words that say the opposite. Each yields its own
# token (besides ☹) and keeps a text from being labelled satisfied (``decide``).
FAINT_TOKEN, SARCASM_TOKEN = "≈", "⸮"
_THANKS = re.compile("谢谢|感谢|多谢|谢了")
# 谢谢你们的冷脸, 感谢让我白跑一趟: thanks whose object (after 的 / 让) holds a complaint word.
_THANKS_OBJECT = frozenset({"的", "让", "让我", "让人", "害", "害我", "给"})
_FAINT_ALWAYS = frozenset({"一般般", "马马虎虎", "凑合", "凑合吧", "不过如此", "就那样", "也就那样"})
_FAINT_IF_HEDGED = frozenset({"一般", "还行", "还可以", "那样", "可以", "行"})  # 牙套一般戴多久: a plain adverb
_HEDGES = frozenset({"很", "太", "真的很", "非常", "特别", "挺", "比较", "相当", "十分", "蛮", "超", "就", "也就",
                     "只能", "只能说", "勉强", "实在"})
_TRAILING = frozenset({"吧", "啊", "呀", "了", "吧~"})


def _is_clause_end(words: list[str], j: int) -> bool:
    return j >= len(words) or bool(_CLAUSE_END.match(words[j]))


def _faint(words: list[str], i: int) -> bool:
    """一般般, 真的很一般, 服务一般。, 还行吧, 也就那样: lukewarm, i.e. not satisfied."""
    word = words[i]
    if word in _FAINT_ALWAYS:
        return True
    if word not in _FAINT_IF_HEDGED:
        return False
    hedged = i > 0 and words[i - 1] in _HEDGES
    trailing = i + 1 < len(words) and words[i + 1] in _TRAILING
    if word == "一般":  # "usually" unless hedged or ending its clause
        return hedged or trailing or _is_clause_end(words, i + 1)
    if word in ("可以", "行") and i > 0 and words[i - 1] == "还":  # jieba splits 还可以吧 → 还 / 可以 / 吧
        return trailing
    if word == "那样":  # 也就那样, not 像医生说的那样
        return i > 0 and words[i - 1] in ("就", "也就")
    return trailing or (hedged and word != "还可以")


def _sarcastic_thanks(words: list[str], i: int) -> bool:
    """A thanks whose object, in the same clause, holds a complaint word: 谢谢你们的冷脸."""
    if not _THANKS.search(words[i]):
        return False
    linked = False
    for j in range(i + 1, len(words)):
        if _is_clause_end(words, j):
            return False
        if words[j] in NEGATORS:  # 感谢让我不再疼: thanks for an end to the complaint
            return False
        if words[j] in _THANKS_OBJECT:
            linked = True
        elif linked and _polarity_token(words[j], False) == COMPLAINT_TOKEN:
            return True
    return False


def faint_or_sarcastic(text: str) -> bool:
    """Whether the clauses that carry a (raw) text's weight hold faint praise or sarcastic
    thanks (环境一般，但医生是真的好 does not: the contrast concedes 环境一般)."""
    norm = normalise(text)
    tokens = jieba_words_negated("，".join(weighted_clauses(norm)) or norm)
    return FAINT_TOKEN in tokens or SARCASM_TOKEN in tokens


def jieba_words_negated(text: str) -> list[str]:
    """jieba words, the (up to two) words after a negator within its clause marked "¬":
    没有一点耐心 → 没有 ¬一点 ¬耐心, so 耐心 (praise) and ¬耐心 (complaint) are different features.
    A word of praise or complaint (``polarity.yaml``) also yields a token for its side, the
    other side when negated or in quotes: 不友好 → 不 ☹ ¬友好. Faint praise (真的很一般) and
    sarcastic thanks (谢谢你们的冷脸) yield ☹ and their own token (≈, ⸮)."""
    out: list[str] = []
    scope = 0
    quoted = False
    words = jieba_words(text)
    for i, word in enumerate(words):
        negated = False
        if word in _QUOTES:
            quoted = not quoted
        if word in NEGATORS:
            scope = NEGATION_SCOPE
        elif _CLAUSE_END.match(word):
            scope = 0
        elif scope:
            negated = True
            if word not in _DEGREE:
                scope -= 1
        # Praise in scare quotes is sarcasm (真是"专业"), so quotes flip it like a negator.
        side = _polarity_token(word, negated or quoted) if word not in NEGATORS else None
        if not negated and _faint(words, i):  # 不一般 is praise, not faint
            side = COMPLAINT_TOKEN
            out.append(FAINT_TOKEN)
        elif _sarcastic_thanks(words, i):
            side = COMPLAINT_TOKEN
            out.append(SARCASM_TOKEN)
        if side:
            out.append(side)
        out.append("¬" + word if negated else word)
    return out


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class ModelConfig:
    """Every choice that shapes a model; part of its version hash."""

    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (1, 3)
    classifier: str = "logreg"  # logreg | svm (LinearSVC, sigmoid-calibrated)
    C: float = 10.0
    strip_prefixes: bool = False
    collapse_punct: bool = True
    negation: bool = True
    drop_exclamations: bool = True
    sublinear_tf: bool = True
    use_words: bool = True
    use_chars: bool = True
    class_weight: str | None = None
    # Rules that keep complaints from passing as other labels (see ``decide``); None: off.
    complaint_precedence: float | None = 0.5
    complaint_floor: float | None = 0.2
    faint_not_satisfied: bool = True  # faint praise / sarcastic thanks is never satisfied

    def as_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


DEFAULT_CONFIG = ModelConfig()


def build_pipeline(config: ModelConfig = DEFAULT_CONFIG):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import FunctionTransformer

    views = []
    if config.use_words:
        views.append(("words", TfidfVectorizer(
            tokenizer=jieba_words_negated if config.negation else jieba_words, token_pattern=None, lowercase=False,
            ngram_range=tuple(config.word_ngrams), sublinear_tf=config.sublinear_tf,
            min_df=1, dtype=np.float32,
        )))
    if config.use_chars:
        views.append(("chars", TfidfVectorizer(
            analyzer="char", lowercase=False,
            ngram_range=tuple(config.char_ngrams),
            sublinear_tf=config.sublinear_tf, min_df=1, dtype=np.float32,
        )))
    if not views:
        raise ValueError("a model needs word or character features")
    if config.classifier == "logreg":
        from sklearn.linear_model import LogisticRegression

        clf = LogisticRegression(C=config.C, solver="newton-cg", max_iter=1000, class_weight=config.class_weight)
    elif config.classifier == "svm":
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import LinearSVC

        clf = CalibratedClassifierCV(
            LinearSVC(C=config.C, class_weight=config.class_weight), method="sigmoid", cv=3
        )
    else:
        raise ValueError(f"unknown classifier {config.classifier!r}; use logreg or svm")
    return Pipeline([
        ("normalise", FunctionTransformer(normalise_all, kw_args={
            "strip_prefixes": config.strip_prefixes, "collapse_punct": config.collapse_punct,
            "drop_exclamations": config.drop_exclamations})),
        ("features", FeatureUnion(views)),
        ("classify", clf),
    ])


def decide(pipeline: Any, texts: list[str], config: ModelConfig) -> tuple[list[str], list[float]]:
    """Label and confidence of every (non-blank) text: the model's most probable label, then two
    rules that keep complaints from passing as something else (measured in docs/sentiment.md):

    - complaint precedence: in a text with a contrast (但是, 不过, …), the clauses after it are
      classified on their own; if they are a complaint with probability ≥
      ``config.complaint_precedence``, so is the text (医生很好但是前台态度差);
    - complaint floor: a text labelled satisfied whose complaint probability is ≥
      ``config.complaint_floor`` is a complaint — missing a complaint costs more than a
      needless service-recovery call;
    - faint praise and sarcastic thanks (真的很一般, 还行吧, 谢谢你们的冷脸) labelled satisfied
      are a complaint (``config.faint_not_satisfied``).
    """
    proba = pipeline.predict_proba(texts)
    classes = [str(c) for c in pipeline.classes_]
    best = proba.argmax(axis=1)
    labels = [classes[b] for b in best]
    confidences = [float(p) for p in proba[np.arange(len(best)), best]]
    if "complaint" not in classes:
        return labels, confidences
    complaint = classes.index("complaint")
    if config.complaint_floor is not None:
        for i, p in enumerate(proba[:, complaint]):
            if labels[i] == "satisfied" and p >= config.complaint_floor:
                labels[i], confidences[i] = "complaint", float(p)
    if config.faint_not_satisfied:
        for i, text in enumerate(texts):
            if labels[i] == "satisfied" and faint_or_sarcastic(text):
                labels[i], confidences[i] = "complaint", float(proba[i, complaint])
    if config.complaint_precedence is not None:
        owners: list[int] = []
        parts: list[str] = []
        for i, text in enumerate(texts):
            norm = normalise(text)
            if labels[i] != "complaint" and re.search(_CONTRAST, norm):
                weighted = weighted_clauses(norm)
                if weighted:
                    owners.append(i)
                    parts.append("，".join(weighted))
        if parts:
            for i, p in zip(owners, pipeline.predict_proba(parts)[:, complaint], strict=True):
                if p >= config.complaint_precedence:
                    labels[i], confidences[i] = "complaint", float(p)
    return labels, confidences


def _is_blank(text: str | None) -> bool:
    return text is None or not str(text).strip()


@dataclass
class SentimentModel:
    """A trained classifier. ``version`` is a short hash of the training data and the config."""

    pipeline: Any
    version: str
    config: ModelConfig = field(default_factory=ModelConfig)
    labels: tuple[str, ...] = SENTIMENTS
    trained_on: int = 0

    def predict(self, texts: Iterable[str | None]) -> list[str]:
        return self.predict_proba(texts)[0]

    def predict_proba(self, texts: Iterable[str | None]) -> tuple[list[str], list[float]]:
        """Label and confidence (the model's probability of that label) for every text.

        Identical texts are classified once; blank texts are neutral with confidence 1.0.
        """
        texts = list(texts)
        labels: list[str] = [EMPTY_LABEL] * len(texts)
        confidences: list[float] = [1.0] * len(texts)
        unique: dict[str, list[int]] = {}
        for i, t in enumerate(texts):
            if not _is_blank(t):
                unique.setdefault(str(t), []).append(i)
        if not unique:
            return labels, confidences
        decided = decide(self.pipeline, list(unique), self.config)
        for (text_indices, label, conf) in zip(unique.values(), *decided, strict=True):
            for i in text_indices:
                labels[i] = label
                confidences[i] = conf
        return labels, confidences

    def save(self, path: str | Path) -> Path:
        import sklearn
        import skops.io

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "version": self.version,
            "config": self.config.as_dict(),
            "labels": list(self.labels),
            "trained_on": self.trained_on,
            "sklearn": sklearn.__version__,
            "pipeline": self.pipeline,
        }
        tmp = path.with_name(path.name + ".tmp")
        skops.io.dump(payload, tmp)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> SentimentModel:
        """Read a model Molar saved. The file is a skops archive, which is read without
        running code from it: any type beyond scikit-learn's own and :data:`MODEL_TYPES` is
        refused before anything is built."""
        import skops.io

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"sentiment model {path} not found")
        retrain = f"retrain it with `molar sentiment train --model {path}`"
        try:
            foreign = sorted(set(skops.io.get_untrusted_types(file=path)) - MODEL_TYPES)
        except Exception as exc:  # not a zip, no schema, bad JSON: not a file Molar wrote
            raise ModelFormatError(
                f"{path} is not a Molar sentiment model (Molar reads only models it saved; {retrain})") from exc
        if foreign:
            raise ModelFormatError(
                f"{path} is not a Molar sentiment model: it holds types Molar never writes "
                f"({', '.join(foreign[:3])}), so it is not loaded; {retrain}")
        try:
            payload = skops.io.load(path, trusted=sorted(MODEL_TYPES))
        except Exception as exc:  # damaged archive
            raise ModelFormatError(f"{path} is damaged (cannot be read: {exc}); {retrain}") from exc
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise ModelFormatError(f"{path} is not a Molar sentiment model; {retrain}")
        found = payload.get("format_version")
        if found != FORMAT_VERSION:
            raise ModelFormatError(
                f"{path} was written in sentiment model format {found}, this Molar reads format "
                f"{FORMAT_VERSION}; {retrain}"
            )
        cfg = {k: tuple(v) if isinstance(v, list) else v for k, v in payload["config"].items()}
        return cls(
            pipeline=payload["pipeline"],
            version=payload["version"],
            config=ModelConfig(**cfg),
            labels=tuple(payload["labels"]),
            trained_on=payload.get("trained_on", 0),
        )


def corpus_hash(texts: Sequence[str], labels: Sequence[str], config: ModelConfig) -> str:
    h = hashlib.sha256()
    h.update(f"{FORMAT}:{FORMAT_VERSION}\n".encode())
    h.update(json.dumps(config.as_dict(), sort_keys=True).encode())
    for t, y in sorted(zip(texts, labels, strict=True)):
        h.update(f"\n{y}\t{t}".encode())
    return h.hexdigest()[:12]


def _check_training_data(texts: Sequence[str], labels: Sequence[str]) -> None:
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    unknown = sorted(set(labels) - set(SENTIMENTS))
    if unknown:
        raise ValueError(f"unknown labels {unknown}; allowed: {', '.join(SENTIMENTS)}")
    if len(set(labels)) < 2:
        raise ValueError("training needs examples of at least two labels")


def train(texts: Sequence[str], labels: Sequence[str], config: ModelConfig = DEFAULT_CONFIG) -> SentimentModel:
    """Fit a model on all the given examples (blank texts are dropped)."""
    pairs = [(str(t), str(y)) for t, y in zip(texts, labels, strict=True) if not _is_blank(t)]
    texts = [t for t, _ in pairs]
    labels = [y for _, y in pairs]
    _check_training_data(texts, labels)
    pipeline = build_pipeline(config)
    pipeline.fit(texts, labels)
    present = tuple(y for y in SENTIMENTS if y in set(labels))
    return SentimentModel(pipeline, corpus_hash(texts, labels, config), config, present, len(texts))


def cross_validate(
    texts: Sequence[str],
    labels: Sequence[str],
    folds: int = 5,
    seed: int = 0,
    config: ModelConfig = DEFAULT_CONFIG,
) -> dict[str, Any]:
    """Stratified k-fold CV: macro-F1 per fold (mean, std) and, over the pooled out-of-fold
    predictions, accuracy, per-class precision/recall/F1 and the confusion matrix."""
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support
    from sklearn.model_selection import StratifiedKFold

    texts = [str(t) for t in texts]
    labels = [str(y) for y in labels]
    _check_training_data(texts, labels)
    present = [y for y in SENTIMENTS if y in set(labels)]
    smallest = min(labels.count(y) for y in present)
    if folds < 2 or folds > smallest:
        raise ValueError(
            f"cannot run {folds}-fold cross-validation: need 2 ≤ folds ≤ {smallest} "
            "(the number of examples of the rarest label)")
    y = np.asarray(labels, dtype=object)
    x = np.asarray(texts, dtype=object)
    predicted = np.empty(len(y), dtype=object)
    fold_f1: list[float] = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train_idx, test_idx in splitter.split(x, y):
        pipe = build_pipeline(config)
        pipe.fit(list(x[train_idx]), list(y[train_idx]))
        pred, _ = decide(pipe, list(x[test_idx]), config)
        predicted[test_idx] = pred
        fold_f1.append(float(f1_score(list(y[test_idx]), list(pred), labels=present, average="macro")))
    p, r, f, s = precision_recall_fscore_support(list(y), list(predicted), labels=present, zero_division=0)
    matrix = confusion_matrix(list(y), list(predicted), labels=present)
    return {
        "folds": folds,
        "seed": seed,
        "examples": len(texts),
        "config": config.as_dict(),
        "macro_f1": {"mean": float(np.mean(fold_f1)), "std": float(np.std(fold_f1)), "per_fold": fold_f1},
        "accuracy": float(np.mean(predicted == y)),
        "per_class": {
            lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, lab in enumerate(present)
        },
        "confusion": {"labels": present, "matrix": matrix.tolist()},  # rows: true, columns: predicted
    }


# --------------------------------------------------------------------------- corpus and labelled files

_LABEL_ALIASES = {
    "满意": "satisfied", "疑虑": "doubt", "疑问": "doubt", "投诉": "complaint", "不满": "complaint",
    "中性": "neutral",
}


def _label(raw: Any, where: str) -> str:
    value = "" if raw is None else str(raw).strip()
    label = _LABEL_ALIASES.get(value, value.lower())
    if not value:
        raise ValueError(f"{where}: missing label; allowed labels: {', '.join(SENTIMENTS)}")
    if label not in SENTIMENTS:
        raise ValueError(f"{where}: unknown label {value!r}; allowed labels: {', '.join(SENTIMENTS)}")
    return label


def _text(raw: Any, where: str) -> str:
    if raw is None or not isinstance(raw, str | int | float) or not str(raw).strip():
        raise ValueError(f"{where}: empty text")
    return str(raw).strip()


def _read_utf8(path: Path) -> str:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValueError(f"{path}, line {line}: not UTF-8 (byte {exc.start}); save the file as UTF-8") from exc
    return text.removeprefix("\ufeff")


def _lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _load_dir(folder: Path) -> tuple[list[str], list[str]]:
    texts: list[str] = []
    labels: list[str] = []
    missing = [f"{y}.txt" for y in SENTIMENTS if not (folder / f"{y}.txt").is_file()]
    if missing:
        raise ValueError(f"{folder}: corpus folder lacks {', '.join(missing)} (one file per label: "
                         f"{', '.join(y + '.txt' for y in SENTIMENTS)})")
    for label in SENTIMENTS:
        t = _load_label_file(folder / f"{label}.txt", label)
        texts.extend(t)
        labels.extend([label] * len(t))
    return texts, labels


def _load_label_file(path: Path, label: str) -> list[str]:
    return [line.strip() for line in _lines(_read_utf8(path)) if line.strip()]


def _load_delimited(path: Path, delimiter: str) -> tuple[list[str], list[str]]:
    content = _read_utf8(path)
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise ValueError(f"{path}: empty file; expected a header line with columns text,label") from None
    names = [h.strip().lower() for h in header]
    missing = [c for c in ("text", "label") if c not in names]
    if missing:
        raise ValueError(
            f"{path}, line 1: missing column {' and '.join(repr(m) for m in missing)}; the first line "
            f"must be a header naming the columns text and label (found {header!r})")
    ti, li = names.index("text"), names.index("label")
    texts: list[str] = []
    labels: list[str] = []
    for row in reader:
        where = f"{path}, line {reader.line_num}"
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(ti, li):
            raise ValueError(f"{where}: {len(row)} columns, expected {len(header)} (text and label)")
        labels.append(_label(row[li], where))
        texts.append(_text(row[ti], where))
    return texts, labels


def _load_jsonl(path: Path) -> tuple[list[str], list[str]]:
    texts: list[str] = []
    labels: list[str] = []
    for n, line in enumerate(_lines(_read_utf8(path)), start=1):
        if not line.strip():
            continue
        where = f"{path}, line {n}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: not valid JSON ({exc.msg})") from exc
        if not isinstance(obj, dict):
            raise ValueError(f"{where}: expected an object with keys text and label")
        missing = [k for k in ("text", "label") if k not in obj]
        if missing:
            raise ValueError(f"{where}: missing key {' and '.join(repr(m) for m in missing)}")
        labels.append(_label(obj["label"], where))
        texts.append(_text(obj["text"], where))
    return texts, labels


def load_corpus(path: str | Path | None = None) -> tuple[list[str], list[str]]:
    """Labelled examples as (texts, labels).

    ``path`` may be: nothing (the corpus shipped with Molar); a folder holding one
    ``<label>.txt`` per label, one message per line; a CSV (``.csv``) or TSV (``.tsv``/``.tab``)
    with a header naming the columns ``text`` and ``label`` (either order, extra columns
    ignored); a JSON-lines file (``.jsonl``/``.ndjson``) with keys ``text`` and ``label``; or a
    ``<label>.txt`` file. Labels are the English codes (or 满意/疑虑/投诉/中性). Any problem is a
    ``ValueError`` naming the file and line.
    """
    path = Path(path) if path is not None else CORPUS_DIR
    if path.is_dir():
        texts, labels = _load_dir(path)
    elif not path.exists():
        raise ValueError(f"{path}: file not found")
    else:
        suffix = path.suffix.lower()
        if suffix == ".csv":
            texts, labels = _load_delimited(path, ",")
        elif suffix in (".tsv", ".tab"):
            texts, labels = _load_delimited(path, "\t")
        elif suffix in (".jsonl", ".ndjson"):
            texts, labels = _load_jsonl(path)
        elif suffix == ".txt" and path.stem in SENTIMENTS:
            texts = _load_label_file(path, path.stem)
            labels = [path.stem] * len(texts)
        else:
            raise ValueError(
                f"{path}: unknown labelled-file type {suffix or '(no extension)'!r}; use .csv or "
                ".tsv with columns text,label, .jsonl with keys text and label, or a folder of "
                "<label>.txt files")
    if not texts:
        raise ValueError(f"{path}: no labelled examples")
    return texts, labels


# --------------------------------------------------------------------------- default model

_memo: dict[str, SentimentModel] = {}


def default_model() -> SentimentModel:
    """The model saved at $MOLAR_SENTIMENT_MODEL if that file exists; otherwise one trained on
    the shipped corpus (and saved there when the variable names a path). Memoised per process."""
    import os

    env = os.environ.get("MOLAR_SENTIMENT_MODEL", "").strip()
    key = env or "<corpus>"
    if key in _memo:
        return _memo[key]
    if env and Path(env).is_file():
        model = SentimentModel.load(env)
    else:
        model = train(*load_corpus())
        if env:
            with contextlib.suppress(OSError):  # a cache we cannot write is not an error
                model.save(env)
    _memo[key] = model
    return model
