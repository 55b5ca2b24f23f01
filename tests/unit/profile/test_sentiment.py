"""Consult-sentiment classifier: the shipped corpus, the model, persistence, labelled files, scoring."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from pathlib import Path

import joblib
import numpy as np
import pytest
import skops.io

from molar.model.codes import SENTIMENTS
from molar.profile.sentiment import (
    ModelConfig,
    ModelFormatError,
    SentimentModel,
    cross_validate,
    default_model,
    load_corpus,
    normalise,
    score_texts,
    train,
)
from molar.profile.sentiment.aspects import ASPECTS, aspects, complaint_aspects
from molar.profile.sentiment.evaluate import HELDOUT_FILE, evaluate_heldout, load_heldout
from molar.profile.sentiment.model import (
    FAINT_TOKEN,
    MODEL_TYPES,
    SARCASM_TOKEN,
    decide,
    jieba_words_negated,
    weighted_clauses,
)
from support import seal_free_text

BLIND_FILE = HELDOUT_FILE.with_name("blind.tsv")
# Plain complaints that an earlier model labelled satisfied.
REPORTED_COMPLAINTS = ["服务态度很差", "前台很冷漠", "医生全程看手机，敷衍了事", "洗完牙出血好几天，打电话也没人管"]

# Written for these tests, checked below not to be in the corpus.
UNSEEN = {
    "satisfied": [
        "今天拔牙的李医生手法真轻，回家都没怎么肿",
        "孩子第一次看牙居然没哭，护士姐姐太会哄了",
        "烤瓷牙戴上很自然，同事都看不出来，非常感谢",
        "诊室很干净，器械都是一次性的，看着就放心",
        "复诊提醒很及时，服务很贴心，给个好评",
        "洗完牙牙齿亮了好多，医生还教了我正确的刷牙方法",
        "种植手术比我想象的顺利多了，谢谢整个团队",
        "牙套戴了一年，效果超出预期，已经推荐朋友来了",
    ],
    "doubt": [
        "隐形矫正和传统钢牙哪个效果好一点？我拿不定主意",
        "做完根管以后要多久才能正常吃饭，会不会咬碎",
        "拔了智齿会不会影响脸型啊，有点担心",
        "牙龈出血是不是一定要做牙周治疗",
        "种植体用国产的会不会不耐用，心里没底",
        "孕期可以洗牙吗，会不会对宝宝有影响",
        "冷光美白能维持多长时间？会不会伤牙釉质",
        "儿童涂氟真的有必要每半年做一次吗",
    ],
    "complaint": [
        "说好的半小时结果等了一个多钟头，也没人解释",
        "补完牙第二天就掉了，打电话也没人管",
        "医生全程不说话，问什么都敷衍，很失望",
        "结账时多收了两百块，前台还不承认",
        "约好的号被别人占了，白跑一趟",
        "洗牙洗得牙龈出血不止，以后不会再来了",
        "推销太严重了，一进门就逼着办卡",
        "做的牙冠咬合不对，返工三次还是不行",
    ],
    "neutral": [
        "下周二上午还有号吗",
        "我想把周四的预约改到周五",
        "请问门诊晚上几点下班",
        "好的，我明天上午十点到",
        "坐地铁几号线能到你们诊所",
        "麻烦发一下诊所的定位",
        "我的病历号是多少",
        "帮我查一下上次的缴费记录",
    ],
}


@pytest.fixture(scope="module")
def corpus():
    return load_corpus()


@pytest.fixture(scope="module")
def model():
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MOLAR_SENTIMENT_MODEL", raising=False)
        return default_model()


# --------------------------------------------------------------------------- corpus


def test_corpus_has_enough_examples_of_every_label(corpus):
    texts, labels = corpus
    counts = Counter(labels)
    assert set(counts) == set(SENTIMENTS)
    for label in SENTIMENTS:
        assert counts[label] >= 300, f"{label}.txt has only {counts[label]} lines"
    assert all(t.strip() == t and t for t in texts)


def test_corpus_has_no_duplicates(corpus):
    texts, labels = corpus
    duplicates = {t: n for t, n in Counter(texts).items() if n > 1}
    assert not duplicates, f"{len(duplicates)} duplicated lines, e.g. {list(duplicates)[:5]}"


def test_cross_validated_macro_f1_on_the_corpus(corpus):
    # 0.885 measured (docs/sentiment.md): the complaint floor trades satisfied precision for
    # complaint recall, and the corpus now holds terse and mixed messages on purpose.
    metrics = cross_validate(*corpus, folds=5, seed=0)
    assert metrics["macro_f1"]["mean"] >= 0.87, metrics["macro_f1"]
    assert len(metrics["macro_f1"]["per_fold"]) == 5
    assert set(metrics["per_class"]) == set(SENTIMENTS)
    matrix = metrics["confusion"]["matrix"]
    assert sum(map(sum, matrix)) == len(corpus[0])


# --------------------------------------------------------------------------- predictions


def test_unseen_sentences_are_mostly_right(model, corpus):
    known = {normalise(t) for t in corpus[0]}
    sentences = [(s, label) for label, ss in UNSEEN.items() for s in ss]
    assert not [s for s, _ in sentences if normalise(s) in known], "test sentences must not be in the corpus"
    predicted = model.predict([s for s, _ in sentences])
    right = [p == label for p, (_, label) in zip(predicted, sentences, strict=True)]
    wrong = [(s, label, p) for p, (s, label) in zip(predicted, sentences, strict=True) if p != label]
    assert sum(right) / len(right) >= 0.75, wrong


def test_negation(model):
    assert model.predict(["一点都不疼", "一点都不满意"]) == ["satisfied", "complaint"]


def test_blank_texts_are_neutral_with_full_confidence(model):
    labels, confidences = model.predict_proba(["", "   ", "\t\n", None])
    assert labels == ["neutral"] * 4
    assert confidences == [1.0] * 4
    assert model.predict([]) == []


def test_probabilities_and_traditional_full_width_input(model):
    labels, confidences = model.predict_proba(["一点都不满意", "一點都不滿意！！！", "ＯＫ，收到"])
    assert labels[0] == labels[1] == "complaint"
    assert all(0 < c <= 1 for c in confidences)
    assert normalise("一點都不滿意！！！") == "一点都不满意"
    assert normalise("ＡＢＣ，，好的？？ ") == "abc,好的?"


def test_save_load_round_trip(model, tmp_path):
    path = model.save(tmp_path / "m.skops")
    loaded = SentimentModel.load(path)
    sentences = [s for ss in UNSEEN.values() for s in ss] + ["", "好的"]
    assert loaded.version == model.version and len(model.version) == 12
    assert loaded.predict_proba(sentences) == model.predict_proba(sentences)


class Planted:
    """What a hostile model file would carry: code that runs when the file is loaded."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))

    def __setstate__(self, state):
        Path(state["marker"]).touch()


def test_load_refuses_a_pickle_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    joblib.dump({"format": "molar-sentiment", "pipeline": Planted(str(marker))}, tmp_path / "evil.joblib")
    with pytest.raises(ModelFormatError, match="not a Molar sentiment model .*Molar reads only models it saved"):
        SentimentModel.load(tmp_path / "evil.joblib")
    assert not marker.exists()


def test_load_refuses_a_tampered_model_without_building_it(model, tmp_path):
    marker = tmp_path / "ran"
    payload = {"format": "molar-sentiment", "format_version": 2, "pipeline": Planted(str(marker))}
    skops.io.dump(payload, tmp_path / "tampered.skops")
    with pytest.raises(ModelFormatError, match="holds types Molar never writes .*Planted"):
        SentimentModel.load(tmp_path / "tampered.skops")
    assert not marker.exists()


def test_load_refuses_other_formats(model, tmp_path):
    path = model.save(tmp_path / "m.skops")
    payload = skops.io.load(path, trusted=sorted(MODEL_TYPES))
    payload["format_version"] = 999
    skops.io.dump(payload, tmp_path / "old.skops")
    with pytest.raises(ModelFormatError, match="format 999"):
        SentimentModel.load(tmp_path / "old.skops")
    (tmp_path / "junk.skops").write_bytes(b"not a model")
    with pytest.raises(ModelFormatError, match="not a Molar sentiment model"):
        SentimentModel.load(tmp_path / "junk.skops")
    skops.io.dump({"something": "else"}, tmp_path / "other.skops")
    with pytest.raises(ModelFormatError, match="not a Molar sentiment model"):
        SentimentModel.load(tmp_path / "other.skops")


def test_version_depends_on_data_and_config():
    texts = ["很满意", "太差了", "好的", "会不会疼", "非常好", "投诉你们", "收到", "疼不疼啊"]
    labels = ["satisfied", "complaint", "neutral", "doubt"] * 2
    a = train(texts, labels)
    assert train(texts, labels).version == a.version
    assert train(texts[:-1] + ["会痛吗"], labels).version != a.version


# --------------------------------------------------------------------------- labelled files


def test_labelled_files_in_every_format(tmp_path):
    (tmp_path / "a.csv").write_text("text,label\n很满意,satisfied\n\"好的,收到\",neutral\n", encoding="utf-8-sig")
    (tmp_path / "b.csv").write_text("label,text,note\ncomplaint,太差了,x\n投诉,乱收费,\n", encoding="utf-8")
    (tmp_path / "c.tsv").write_text("text\tlabel\r\n会疼吗\tdoubt\r\n\r\n", encoding="utf-8")
    (tmp_path / "d.jsonl").write_text('{"text": "好的", "label": "neutral"}\n\n{"label": "Doubt", "text": "疼吗"}\n',
                                      encoding="utf-8")
    assert load_corpus(tmp_path / "a.csv") == (["很满意", "好的,收到"], ["satisfied", "neutral"])
    assert load_corpus(tmp_path / "b.csv") == (["太差了", "乱收费"], ["complaint", "complaint"])
    assert load_corpus(tmp_path / "c.tsv") == (["会疼吗"], ["doubt"])
    assert load_corpus(tmp_path / "d.jsonl") == (["好的", "疼吗"], ["neutral", "doubt"])


@pytest.mark.parametrize(("name", "content", "message"), [
    ("bad.csv", "text,label\n很好,satisfied\n还行,happy\n",
     r"bad\.csv, line 3: unknown label 'happy'; allowed labels: satisfied, doubt, complaint, neutral"),
    ("bad.csv", "text,label\n  ,satisfied\n", r"bad\.csv, line 2: empty text"),
    ("bad.csv", "message,label\n很好,satisfied\n", r"bad\.csv, line 1: missing column 'text'"),
    ("bad.csv", "很好,satisfied\n", r"bad\.csv, line 1: missing column 'text' and 'label'"),
    ("bad.csv", "text,label\n很好\n", r"bad\.csv, line 2: 1 columns"),
    ("bad.csv", "", r"bad\.csv: empty file"),
    ("bad.tsv", "text\tlabel\n很好\t\n", r"bad\.tsv, line 2: missing label; allowed labels"),
    ("bad.jsonl", '{"text": "好", "label": "satisfied"}\n{"text": "好"}\n', r"bad\.jsonl, line 2: missing key 'label'"),
    ("bad.jsonl", '{"text": "好", "label": "good"}\n', r"line 1: unknown label 'good'; allowed labels"),
    ("bad.jsonl", '{"text": "", "label": "neutral"}\n', r"bad\.jsonl, line 1: empty text"),
    ("bad.jsonl", "{text: 1}\n", r"bad\.jsonl, line 1: not valid JSON"),
    ("bad.xlsx", "x", r"bad\.xlsx: unknown labelled-file type"),
])
def test_bad_labelled_files_name_file_line_and_problem(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_corpus(path)


def test_non_utf8_and_missing_files(tmp_path):
    path = tmp_path / "gbk.csv"
    path.write_bytes("text,label\n很好,satisfied\n".encode("gbk"))
    with pytest.raises(ValueError, match=r"gbk\.csv, line 2: not UTF-8"):
        load_corpus(path)
    with pytest.raises(ValueError, match="file not found"):
        load_corpus(tmp_path / "missing.csv")
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "doubt.txt").write_text("会疼吗\n", encoding="utf-8")
    with pytest.raises(ValueError, match="lacks satisfied.txt, complaint.txt, neutral.txt"):
        load_corpus(tmp_path / "corpus")


# --------------------------------------------------------------------------- scoring the warehouse


def test_score_texts_writes_one_row_per_text_and_keeps_live_rows(warehouse, model):
    warehouse.execute(
        """INSERT INTO std.consult (consult_id, source, source_patient_key, channel, occurred_at, text) VALUES
           ('K1', 'crm', 'P1', 'chat', TIMESTAMP '2026-03-01 10:00', '医生很耐心，一点都不疼，谢谢'),
           ('K2', 'crm', 'P1', 'call', TIMESTAMP '2026-03-02 11:00', '等了两个小时没人理，要投诉'),
           ('K3', 'crm', 'P2', 'chat', TIMESTAMP '2026-03-03 12:00', ''),
           ('K4', 'crm', 'P3', 'chat', TIMESTAMP '2026-03-04 09:30', '医生很耐心，一点都不疼，谢谢')"""
    )
    warehouse.execute(
        """INSERT INTO std.review (review_id, source, source_patient_key, clinic_id, doctor_id, posted_on, rating, text) VALUES
           ('R1', 'dianping', 'U1', 'C01', 'D001', DATE '2026-04-01', 5, '环境干净，服务周到，非常满意'),
           ('R2', 'dianping', 'U2', 'C01', 'D001', DATE '2026-04-02', 1, NULL),
           ('R3', 'dianping', 'U3', 'C01', 'D001', DATE '2026-04-03', 1, '   ')"""
    )
    # A previous run's rows are replaced, not added to; the real-time stage's rows are kept.
    warehouse.execute("""INSERT INTO profile.text_sentiment VALUES
        ('OLD', 'consult', 'crm', 'P9', TIMESTAMP '2020-01-01', 'neutral', 1.0, 'old', NULL),
        ('EV1', 'consult', 'live', 'G1', TIMESTAMP '2026-05-01', 'doubt', 0.8, 'live', NULL)""")
    seal_free_text(warehouse)
    calls = []
    summary = score_texts(warehouse, model, progress=lambda done, total: calls.append((done, total)))
    rows = warehouse.rows(
        "SELECT text_id, kind, source, source_patient_key, occurred_at, label, confidence, model_version "
        "FROM profile.text_sentiment WHERE source <> 'live' ORDER BY text_id")
    assert [r[:5] for r in rows] == [
        ("K1", "consult", "crm", "P1", datetime(2026, 3, 1, 10, 0)),
        ("K2", "consult", "crm", "P1", datetime(2026, 3, 2, 11, 0)),
        ("K3", "consult", "crm", "P2", datetime(2026, 3, 3, 12, 0)),
        ("K4", "consult", "crm", "P3", datetime(2026, 3, 4, 9, 30)),
        ("R1", "review", "dianping", "U1", datetime.combine(date(2026, 4, 1), datetime.min.time())),
    ]
    labels = {r[0]: r[5] for r in rows}
    assert labels == {"K1": "satisfied", "K2": "complaint", "K3": "neutral", "K4": "satisfied", "R1": "satisfied"}
    assert rows[2][6] == 1.0 and all(0 < r[6] <= 1 for r in rows)
    assert {r[7] for r in rows} == {model.version}
    assert summary["texts"] == 5
    assert summary["by_kind"]["consult"] == {"satisfied": 2, "doubt": 0, "complaint": 1, "neutral": 1}
    assert summary["by_kind"]["review"]["satisfied"] == 1
    assert summary["by_label"]["satisfied"] == 3
    assert calls[-1] == (5, 5)
    assert warehouse.rows("SELECT text_id, label FROM profile.text_sentiment WHERE source = 'live'") == [("EV1", "doubt")]
    # Complaints carry what went wrong; other labels carry no aspects.
    aspects_by_id = dict(warehouse.rows("SELECT text_id, aspects FROM profile.text_sentiment WHERE source <> 'live'"))
    assert aspects_by_id == {"K1": None, "K2": ["attitude", "waiting"], "K3": None, "K4": None, "R1": None}


def test_score_texts_is_incremental(warehouse, model):
    warehouse.execute(
        """INSERT INTO std.consult (consult_id, source, source_patient_key, channel, occurred_at, text) VALUES
           ('K1', 'crm', 'P1', 'chat', TIMESTAMP '2026-03-01 10:00', '医生很耐心，一点都不疼，谢谢'),
           ('K2', 'crm', 'P1', 'call', TIMESTAMP '2026-03-02 11:00', '等了两个小时没人理，要投诉')"""
    )
    seal_free_text(warehouse)
    assert score_texts(warehouse, model)["texts"] == 2
    # Nothing new: nothing is classified again, the labels stay.
    assert score_texts(warehouse, model)["texts"] == 0
    assert warehouse.count("profile.text_sentiment") == 2
    # A new text is classified alone; a text gone from std loses its label.
    warehouse.execute("""INSERT INTO std.consult (consult_id, source, source_patient_key, channel, occurred_at, text)
                         VALUES ('K3', 'crm', 'P2', 'chat', TIMESTAMP '2026-03-05 10:00', '几点关门？')""")
    seal_free_text(warehouse)
    warehouse.execute("DELETE FROM std.consult WHERE consult_id = 'K1'")
    assert score_texts(warehouse, model)["texts"] == 1
    assert [r[0] for r in warehouse.rows("SELECT text_id FROM profile.text_sentiment ORDER BY 1")] == ["K2", "K3"]
    # A different model version relabels everything; full=True always does.
    warehouse.execute("UPDATE profile.text_sentiment SET model_version = 'older'")
    assert score_texts(warehouse, model)["texts"] == 2
    assert score_texts(warehouse, model, full=True)["texts"] == 2
    assert warehouse.count("profile.text_sentiment") == 2


# --------------------------------------------------------------------------- complaints that must not pass


def test_the_reported_complaints_are_complaints(model, corpus):
    known = {normalise(t) for t in corpus[0]}
    assert not [t for t in REPORTED_COMPLAINTS if normalise(t) in known]
    assert model.predict(REPORTED_COMPLAINTS) == ["complaint"] * 4


def test_terse_negated_and_factual_complaints(model):
    # Written for this test; none is in the corpus or the held-out splits.
    texts = ["太烂了", "不太专业啊", "没有说的那么好", "护士不友好", "挂了两次号都没看上", "医生不停地催我办卡"]
    assert model.predict(texts) == ["complaint"] * len(texts)


def test_contrast_weights_the_clause_after_it():
    assert weighted_clauses(normalise("医生很好但是前台态度差")) == ["前台态度差"]
    assert weighted_clauses(normalise("虽然等了一会儿，不过医生讲得很细。下次还来！")) == ["医生讲得很细。", "下次还来"]
    assert weighted_clauses(normalise("技术还行，就是太贵")) == ["太贵"]
    assert weighted_clauses(normalise("会不会很疼？")) == ["会不会很疼?"]
    assert weighted_clauses(normalise("不但便宜而且快")) == ["不但便宜而且快"]


def test_mixed_messages_are_complaints_and_conceded_complaints_are_not(model):
    mixed = ["牙医很专业，但是补的牙第二天就掉了", "服务很好，但是价格太贵了", "医生很温柔，但是前台太冷漠"]
    assert model.predict(mixed) == ["complaint"] * 3
    assert model.predict(["虽然等了很久，但是医生很好", "价格贵了点，不过效果很好"]) == ["satisfied"] * 2


def test_without_complaint_precedence_mixed_messages_pass_as_satisfied(corpus):
    # The rule is what catches them: the same model without it labels them satisfied.
    plain = train(*corpus, config=ModelConfig(complaint_precedence=None))
    mixed = ["牙医很专业，但是补的牙第二天就掉了", "服务很好，但是价格太贵了", "医生很温柔，但是前台太冷漠"]
    assert "satisfied" in plain.predict(mixed)


def test_negated_praise_and_scare_quotes_count_as_complaint():
    assert jieba_words_negated("护士不友好") == ["护士", "不", "☹", "¬友好"]
    assert jieba_words_negated("一点都不疼") == ["一点", "都", "不", "☺", "¬疼"]
    assert "☹" in jieba_words_negated('真是"专业"')
    assert jieba_words_negated("很不爽") == ["很", "☹", "不爽"]


def test_faint_praise_and_sarcastic_thanks_are_marked_but_plain_uses_are_not():
    def marks(text: str) -> set[str]:
        return set(jieba_words_negated(normalise(text))) & {FAINT_TOKEN, SARCASM_TOKEN}

    for faint in ("服务挺一般的", "看完感觉非常一般。", "环境一般般", "还行吧", "也就那样吧", "还可以吧"):
        assert marks(faint) == {FAINT_TOKEN}, faint
    for sarcastic in ("谢谢你们的白眼", "感谢贵院让我白跑一趟", "多谢前台的冷脸相迎"):
        assert marks(sarcastic) == {SARCASM_TOKEN}, sarcastic
    # "usually", "extraordinary", thanks for praise or for an end to the pain
    for plain in ("种植牙一般要几次", "一般的洗牙多少钱", "技术不一般", "效果还可以", "谢谢你们的耐心",
                  "感谢医生让我不再疼了", "谢谢医生，拔牙一点都不疼"):
        assert marks(plain) == set(), plain


def test_faint_praise_is_never_satisfied_even_when_the_classifier_says_so():
    class Satisfied:  # a classifier that calls everything satisfied, complaint probability 0.05
        classes_ = ["complaint", "doubt", "neutral", "satisfied"]

        def predict_proba(self, texts):
            return np.tile([0.05, 0.05, 0.05, 0.85], (len(texts), 1))

    texts = ["牙洗得很一般", "谢谢你们让我白等一上午", "环境一般，但医生是真的好", "医生很耐心"]
    labels, _ = decide(Satisfied(), texts, ModelConfig())
    assert labels == ["complaint", "complaint", "satisfied", "satisfied"]  # a contrast concedes 环境一般
    assert decide(Satisfied(), texts, ModelConfig(faint_not_satisfied=False))[0] == ["satisfied"] * 4


def test_unseen_faint_praise_and_sarcastic_thanks_are_complaints(model, corpus):
    # Written for this test; none is in the corpus or the held-out splits.
    texts = ["洗牙体验挺一般的", "总的来说很一般吧", "医生技术也就那样", "谢谢你们的白眼和催费", "感谢诊所让我白来一趟"]
    known = {normalise(t) for t in corpus[0]}
    assert not [t for t in texts if normalise(t) in known]
    assert model.predict(texts) == ["complaint"] * len(texts)


# --------------------------------------------------------------------------- held-out splits


@pytest.mark.parametrize("path", [HELDOUT_FILE, BLIND_FILE])
def test_heldout_splits_are_not_in_the_corpus(corpus, path):
    rows = load_heldout(path)
    known = {normalise(t) for t in corpus[0]}
    assert not [t for t, _, _ in rows if normalise(t) in known]
    assert {y for _, y, _ in rows} == set(SENTIMENTS)
    assert all(set(a) <= set(ASPECTS) for _, _, a in rows)


def test_heldout_split_size_and_the_reported_complaints():
    rows = load_heldout(HELDOUT_FILE)
    assert len(rows) >= 300
    assert {t for t, y, _ in rows if y == "complaint"} >= set(REPORTED_COMPLAINTS)


@pytest.mark.parametrize("path", [HELDOUT_FILE, BLIND_FILE])
def test_heldout_complaints_do_not_come_back_satisfied(model, path):
    result = evaluate_heldout(model, path)
    # None (docs/sentiment.md); before faint praise and sarcastic thanks were handled, one each.
    assert result["complaint_as_satisfied"] == []
    assert result["per_class"]["complaint"]["recall"] >= 0.93
    assert result["macro_f1"] >= 0.90


# --------------------------------------------------------------------------- aspects


@pytest.mark.parametrize(("text", "expected"), [
    ("服务态度很差", ["attitude"]),
    ("约了十点，等到十二点才叫号", ["waiting", "booking"]),
    ("结账时多收了一百块", ["price"]),
    ("拔牙疼得受不了", ["pain"]),
    ("牙冠两周就松动了", ["result"]),
    ("器械没有消毒", ["hygiene"]),
    ("预约被取消了也不通知", ["booking"]),
    ("医生很好但是前台态度差", ["attitude"]),
    ("技术没得说，就是太贵了", ["price"]),
    ("差评", []),
])
def test_aspects_of_hand_labelled_complaints(text, expected):
    assert complaint_aspects(text) == expected


def test_aspects_of_a_whole_message_include_conceded_clauses():
    assert aspects("技术没得说，就是太贵了") == ["price", "result"]


def test_aspects_on_the_heldout_complaints(model):
    per_aspect = evaluate_heldout(model)["aspects"]["per_aspect"]
    assert set(per_aspect) == set(ASPECTS)
    for code, m in per_aspect.items():
        assert m["labelled"] >= 5, code
        assert m["precision"] >= 0.65 and m["recall"] >= 0.8, (code, m)


def test_a_patients_profile_carries_the_aspects_of_the_latest_complaint(tmp_path, model):
    from molar.profile.explain import explain_patient
    from unit.profile.crafted import (
        Chain,
        Patient,
        Text,
        Visit,
        ago,
        at,
        new_warehouse,
        run_profile,
    )

    engine = new_warehouse(tmp_path / "molar.duckdb")
    chain = Chain([Patient("p", visits=[Visit(ago(30), ["CHK"])], texts=[
        Text(at(ago(20)), "complaint", "结账时多收了两百块"),
        Text(at(ago(10)), "complaint", "医生很好但是前台态度差"),
        Text(at(ago(5)), "satisfied", "谢谢医生，很满意"),
    ])]).build(engine)
    score_texts(engine, model, full=True)
    run_profile(engine)
    sentiment = explain_patient(engine, chain["p"])["sentiment"]
    assert sentiment["latest"] == "satisfied"
    assert sentiment["latest_complaint_aspects"] == ["attitude"]
    assert [t["aspects"] for t in sentiment["recent_texts"]] == [None, ["attitude"], ["price"]]
    engine.close()
