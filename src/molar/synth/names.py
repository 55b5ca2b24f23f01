"""Chinese names: frequency-weighted surnames, generation-specific given names, homophones.

Popular full given names (伟, 芳, 秀英, 梓涵 …) are drawn often enough that common names such
as 王芳, 李伟 and 张伟 collide many times in a city — the hard negatives of record linkage.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

# Surname and its share of the population in percent (national ranking, Sichuan-leaning).
SURNAMES: tuple[tuple[str, float], ...] = (
    ("王", 7.12), ("李", 7.00), ("张", 6.74), ("刘", 5.10), ("陈", 4.61), ("杨", 3.22), ("黄", 2.45),
    ("赵", 2.29), ("吴", 2.05), ("周", 2.05), ("徐", 1.67), ("孙", 1.54), ("马", 1.47), ("朱", 1.43),
    ("胡", 1.35), ("郭", 1.32), ("何", 1.40), ("林", 1.18), ("高", 1.17), ("罗", 1.44), ("郑", 1.00),
    ("梁", 0.90), ("谢", 0.80), ("宋", 0.80), ("唐", 0.95), ("许", 0.70), ("韩", 0.70), ("邓", 0.85),
    ("冯", 0.70), ("曹", 0.60), ("彭", 0.65), ("曾", 0.75), ("肖", 0.60), ("田", 0.55), ("董", 0.55),
    ("潘", 0.50), ("袁", 0.55), ("蔡", 0.50), ("蒋", 0.55), ("余", 0.50), ("于", 0.45), ("杜", 0.50),
    ("叶", 0.45), ("程", 0.45), ("魏", 0.40), ("苏", 0.40), ("吕", 0.40), ("丁", 0.40), ("任", 0.45),
    ("卢", 0.38), ("姚", 0.38), ("沈", 0.37), ("钟", 0.36), ("姜", 0.36), ("崔", 0.35), ("谭", 0.40),
    ("陆", 0.33), ("范", 0.32), ("汪", 0.32), ("廖", 0.36), ("石", 0.31), ("金", 0.30), ("韦", 0.29),
    ("贾", 0.29), ("夏", 0.28), ("付", 0.30), ("方", 0.27), ("邹", 0.26), ("熊", 0.30), ("白", 0.26),
    ("孟", 0.25), ("秦", 0.25), ("邱", 0.24), ("侯", 0.24), ("江", 0.23), ("尹", 0.23), ("薛", 0.22),
    ("闫", 0.22), ("段", 0.21), ("雷", 0.25), ("龙", 0.22), ("黎", 0.20), ("史", 0.20), ("陶", 0.19),
    ("贺", 0.19), ("毛", 0.18), ("郝", 0.18), ("顾", 0.18), ("龚", 0.20), ("邵", 0.17), ("万", 0.16),
    ("覃", 0.15), ("武", 0.15), ("钱", 0.15), ("戴", 0.15), ("严", 0.15), ("莫", 0.14), ("孔", 0.13),
    ("向", 0.18), ("常", 0.13), ("汤", 0.12), ("康", 0.12), ("易", 0.15), ("乔", 0.11), ("赖", 0.11),
    ("文", 0.13), ("施", 0.10), ("洪", 0.10), ("牛", 0.10), ("蒲", 0.08), ("冉", 0.06), ("税", 0.03),
    ("欧阳", 0.04), ("司马", 0.005), ("上官", 0.005), ("诸葛", 0.004), ("东方", 0.003),
)

# Share of given names drawn from the popular lists (the rest are composed from characters).
POPULAR_SHARE = 0.28

# Birth-year eras for given names.
ERA_BOUNDS = (1960, 1980, 2000, 2010)  # <1960, 1960-79, 1980-99, 2000-09, 2010+

# Popular full given names per (era, sex); sex 0 = female, 1 = male. Earlier entries weigh more.
POPULAR: dict[tuple[int, int], tuple[str, ...]] = {
    (0, 0): ("秀英", "桂英", "秀兰", "玉兰", "桂兰", "秀珍", "凤英", "玉珍", "玉英", "兰英", "淑珍", "桂芳",
             "素珍", "秀芳", "玉梅", "淑英", "秀华", "桂珍", "芳", "英"),
    (0, 1): ("建国", "国强", "建华", "志强", "德明", "建军", "国华", "福", "明", "华", "军", "平", "文",
             "国平", "忠", "德华", "永福", "学文", "国庆", "志明"),
    (1, 0): ("丽", "芳", "红", "敏", "艳", "霞", "静", "燕", "玲", "娟", "丽华", "红梅", "秀梅", "晓红",
             "春梅", "海燕", "丽娟", "英", "梅", "萍"),
    (1, 1): ("伟", "勇", "军", "强", "平", "刚", "斌", "辉", "建平", "建明", "志刚", "卫东", "海涛", "俊",
             "林", "波", "涛", "杰", "明", "华"),
    (2, 0): ("芳", "娜", "静", "丽", "婷", "敏", "洁", "琳", "倩", "雪", "丹", "佳", "婷婷", "晶晶", "丹丹",
             "慧", "颖", "莉", "璐", "瑶", "欢", "蕾", "艳", "月", "亚楠"),
    (2, 1): ("伟", "磊", "强", "洋", "勇", "杰", "涛", "超", "明", "鹏", "浩", "斌", "宇", "亮", "飞",
             "凯", "帅", "鑫", "俊杰", "晨", "博", "阳", "健", "刚", "波"),
    (3, 0): ("雨欣", "欣怡", "思雨", "佳怡", "雨婷", "婷", "怡", "雪", "悦", "琪", "梦琪", "诗雨", "可欣",
             "佳琪", "雨涵", "心怡", "静怡", "欣悦"),
    (3, 1): ("浩然", "子豪", "宇航", "俊杰", "浩", "宇", "杰", "鑫", "文博", "子轩", "博文", "天宇",
             "明轩", "志豪", "晨阳", "宇轩", "家豪", "浩宇"),
    (4, 0): ("梓涵", "一诺", "欣怡", "诗涵", "子涵", "可馨", "雨桐", "梓萱", "语桐", "依诺", "若汐",
             "艺涵", "思涵", "芷若", "安琪", "梓玥", "沐晴", "诗琪"),
    (4, 1): ("浩宇", "梓轩", "宇轩", "子墨", "一诺", "沐辰", "浩然", "俊熙", "奕辰", "梓睿", "宇泽",
             "子睿", "铭泽", "皓轩", "睿", "晨", "一航", "沐阳"),
}

MALE_CHARS = (
    "伟刚勇毅俊峰强军平保东文辉力明永健世广志义兴良海山仁波宁贵福生龙元全国胜学祥才发武新利清飞彬富"
    "顺信子杰涛昌成康星光天达安岩中茂进林有坚和彪博诚先敬震振壮会思群豪心邦承乐绍功松善厚庆磊民友裕"
    "河哲江超浩亮政谦亨奇固之翰朗伯宏言若鸣朋斌梁栋维启克伦翔旭鹏泽晨辰士以建家致树德行时泰盛雄琛钧"
    "冠策腾楠航弘宇轩睿铭皓"
)
FEMALE_CHARS = (
    "秀娟英华慧巧美娜静淑惠珠翠雅芝玉萍红娥玲芬芳燕彩春菊兰凤洁梅琳素云莲真环雪荣爱妹霞香月莺媛艳瑞"
    "凡佳嘉琼勤珍贞莉桂娣叶璐娅琦晶妍茜秋珊莎锦黛青倩婷姣婉娴瑾颖露瑶怡婵雁蓓仪荷丹蓉眉君琴蕊薇菁梦"
    "岚苑婕馨琰韵融园艺咏卿聪澜纯毓悦昭冰爽琬茗羽希宁欣飘育滢馥筠柔竹凝晓欢霄枫芸菲寒伊亚宜可舒影荔"
    "丽阳妮宝贝晴容雯萱彦雨曼紫逸蝶菡涵诗思梓"
)

# Homophones / near-homophones / look-alikes a receptionist might type instead.
HOMOPHONES: dict[str, str] = {
    "张": "章", "王": "汪", "刘": "柳", "陈": "程", "杨": "羊", "黄": "王", "徐": "许", "许": "徐",
    "吴": "伍", "周": "邹", "林": "凌", "何": "贺", "肖": "萧", "冯": "封", "于": "余", "余": "于",
    "罗": "萝", "郑": "正", "谢": "解", "唐": "汤", "曾": "增", "彭": "鹏", "邓": "登", "蒋": "姜",
    "伟": "玮炜韦", "芳": "方芬", "娜": "纳那", "敏": "民闽", "静": "晶婧", "丽": "莉俐利", "强": "蔷",
    "磊": "垒蕾", "军": "君均", "洋": "阳杨", "勇": "永咏", "艳": "燕雁彦", "杰": "洁婕", "娟": "鹃涓",
    "涛": "滔韬", "明": "铭鸣", "超": "朝", "秀": "绣", "英": "瑛莹颖", "霞": "侠", "平": "萍苹",
    "刚": "钢纲", "桂": "贵", "华": "桦骅", "红": "虹鸿", "玲": "琳铃灵", "文": "雯闻", "辉": "晖徽",
    "鹏": "朋", "斌": "彬滨", "宇": "雨羽禹", "浩": "皓昊", "轩": "萱宣", "涵": "含晗", "梓": "子紫",
    "欣": "馨心新", "怡": "仪宜", "婷": "庭亭", "雪": "薛", "琳": "林霖", "晨": "辰宸", "思": "斯丝",
    "佳": "嘉家", "俊": "骏峻", "嘉": "佳", "泽": "择", "睿": "瑞锐", "梅": "玫", "燕": "艳", "波": "博",
    "建": "健", "国": "帼", "志": "智", "海": "凯", "东": "冬", "龙": "隆", "飞": "菲", "亮": "靓",
    "博": "波", "倩": "茜", "颖": "莹", "瑶": "遥", "丹": "单", "萍": "平", "兰": "岚", "珍": "真",
    "凤": "风", "春": "纯",
}

ENGLISH_NICKS = ("Amy", "Lily", "Coco", "Kevin", "Jason", "Tony", "Jack", "Vivian", "Cherry", "Grace",
                 "Sunny", "Leo", "Eric", "Anna", "Emma", "Chris", "Luna", "Mia", "Alex", "David")
PHRASE_NICKS = ("岁月静好", "随遇而安", "快乐每一天", "阳光总在风雨后", "平安是福", "简单就好", "淡定",
                "追梦人", "一路向西", "蓝天白云", "小确幸", "笑看人生", "静待花开", "知足常乐", "心若向阳",
                "不忘初心", "云淡风轻", "海阔天空", "微笑向暖", "花开富贵", "好运连连", "天道酬勤",
                "一米阳光", "橙子", "小太阳", "木子", "奔跑的蜗牛", "慢慢来", "清风徐来", "人间值得")
NICK_DECOR = ("", "", "", "🌸", "🍀", "☀️", "🐟", "~", "。", "🌈", "💕", "_")


def _zipf(n: int, s: float = 0.7) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** s
    return w / w.sum()


SURNAME_TEXT = np.array([s for s, _ in SURNAMES], dtype=object)
_SURNAME_P = np.array([p for _, p in SURNAMES])
SURNAME_P = _SURNAME_P / _SURNAME_P.sum()
MALE_POOL = np.array(list(MALE_CHARS), dtype=object)
FEMALE_POOL = np.array(list(FEMALE_CHARS), dtype=object)


def era_of(birth_year: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.array(ERA_BOUNDS), birth_year, side="right")


def draw_surnames(rng: np.random.Generator, n: int) -> np.ndarray:
    """Surname indices into :data:`SURNAME_TEXT`."""
    return rng.choice(SURNAME_TEXT.size, size=n, p=SURNAME_P)


def draw_given_names(rng: np.random.Generator, sex: np.ndarray, birth_year: np.ndarray) -> np.ndarray:
    """Given names (object array of str) by sex (0 F, 1 M) and birth year."""
    n = sex.size
    out = np.empty(n, dtype=object)
    era = era_of(birth_year)
    u = rng.random(n)
    single_p = np.array([0.40, 0.35, 0.22, 0.12, 0.08])[era]
    popular = u < POPULAR_SHARE
    single = (~popular) & (u < POPULAR_SHARE + (1 - POPULAR_SHARE) * single_p)
    composed = ~(popular | single)
    for e in range(5):
        for s in (0, 1):
            m = popular & (era == e) & (sex == s)
            k = int(m.sum())
            if k:
                pool = POPULAR[(e, s)]
                out[m] = np.array(pool, dtype=object)[rng.choice(len(pool), size=k, p=_zipf(len(pool)))]
    for s, pool in ((0, FEMALE_POOL), (1, MALE_POOL)):
        m = single & (sex == s)
        out[m] = pool[rng.integers(0, pool.size, size=int(m.sum()))]
        m = composed & (sex == s)
        k = int(m.sum())
        a = pool[rng.integers(0, pool.size, size=k)]
        b = pool[rng.integers(0, pool.size, size=k)]
        out[m] = a + b
    return out


@lru_cache(maxsize=1)
def _traditional_map() -> dict[str, str]:
    import zhconv

    chars = set(MALE_CHARS) | set(FEMALE_CHARS) | {c for s, _ in SURNAMES for c in s}
    for pool in POPULAR.values():
        for name in pool:
            chars.update(name)
    for v in HOMOPHONES.values():
        chars.update(v)
    out = {}
    for c in sorted(chars):
        t = zhconv.convert(c, "zh-hant")
        if len(t) == 1 and t != c:
            try:
                t.encode("gbk")
            except UnicodeEncodeError:
                continue
            out[c] = t
    return out


def to_traditional(name: str) -> str:
    m = _traditional_map()
    return "".join(m.get(c, c) for c in name)


def homophone_variant(name: str, u: float, v: float) -> str:
    """Replace one character by a homophone; ``u`` picks the position, ``v`` the variant.

    Given-name characters are preferred (4:1) over the surname.  Returns the name unchanged
    if no character has a homophone.
    """
    positions = [i for i, c in enumerate(name) if c in HOMOPHONES]
    if not positions:
        return name
    weights = [1.0 if i == 0 else 4.0 for i in positions]
    total = sum(weights)
    acc = 0.0
    pos = positions[-1]
    for i, w in zip(positions, weights, strict=True):
        acc += w / total
        if u < acc:
            pos = i
            break
    subs = HOMOPHONES[name[pos]]
    return name[:pos] + subs[int(v * len(subs)) % len(subs)] + name[pos + 1:]


# Surname readings that differ from the character's most common reading.
_SURNAME_READING = {"曾": "zeng", "覃": "qin", "解": "xie", "区": "ou", "单": "shan", "仇": "qiu", "查": "zha",
                    "乐": "yue", "盖": "ge", "朴": "piao", "缪": "miao"}


@lru_cache(maxsize=4096)
def _char_pinyin(c: str) -> str:
    from pypinyin import lazy_pinyin

    return lazy_pinyin(c)[0]


def to_pinyin(text: str, surname: bool = False) -> str:
    """Toneless pinyin, one character at a time (cached; names are short and context-free)."""
    if surname and text and text[0] in _SURNAME_READING:
        return _SURNAME_READING[text[0]] + "".join(_char_pinyin(c) for c in text[1:])
    return "".join(_char_pinyin(c) for c in text)


def pinyin_name(surname: str, given: str) -> str:
    """'Zhang Wei' style romanisation (surname first, as a Chinese user types it)."""
    return f"{to_pinyin(surname, surname=True).capitalize()} {to_pinyin(given).capitalize()}"


def nickname(u: float, v: float, surname: str, given: str, female: bool, child_given: str | None) -> str:
    """A WeChat nickname that is *not* the real name (``u`` picks the pattern, ``v`` the item)."""
    decor = NICK_DECOR[int(v * 97) % len(NICK_DECOR)]
    last = given[-1]
    if u < 0.18:
        return PHRASE_NICKS[int(v * len(PHRASE_NICKS))] + decor
    if u < 0.30:
        return ENGLISH_NICKS[int(v * len(ENGLISH_NICKS))] + ("" if v < 0.5 else decor)
    if u < 0.42:
        return surname + ("女士" if female else "先生") if v < 0.5 else surname + ("姐" if female else "哥")
    if u < 0.54:
        return ("小" + last if v < 0.5 else last + last) + decor
    if u < 0.66 and child_given:
        return child_given[-1] * 2 + ("妈妈" if female else "爸爸")
    if u < 0.76:
        p = to_pinyin(surname, surname=True) + to_pinyin(given)
        return p if v < 0.5 else p + str(int(v * 100) % 100)
    if u < 0.88:
        return "A" + surname + given[0] + ("_口腔" if v < 0.2 else "") + decor
    return "明天会更好" if v < 0.2 else ("🌸" + given + "🌸" if v < 0.6 else given + "的日常")
