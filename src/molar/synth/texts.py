"""Template banks for consult messages and reviews, rendered with slot filling.

Each topic has a true sentiment (codes.SENTIMENTS).  Templates are split into literal
parts and ``{slot}`` names once; rendering fills every slot for all rows of a template at
once.  Slots named ``ctx_*`` come from the caller (the person's clinic, doctor, treatment,
new district) so that messages talk about what actually happened.
"""

from __future__ import annotations

import re

import numpy as np

SLOTS: dict[str, tuple[str, ...]] = {
    "greet": ("", "", "", "你好，", "您好，", "在吗？", "你好呀，", "医生你好，", "客服你好，", "打扰一下，",
              "hello，", "您好！"),
    "tail": ("？", "？", "?", "", "？谢谢", "？谢谢！", "？麻烦回复一下", "？急，在线等", "呀？", "？🙏", "？？",
             "？麻烦了"),
    "stail": ("", "", "！", "~", "。", "🙏", "👍", "！！"),
    "angry_tail": ("", "！", "！！", "，太失望了", "，希望给个说法", "，请尽快处理", "，非常不满意", "，必须投诉",
                   "，服了", "。"),
    "child": ("孩子", "我家小孩", "我女儿", "我儿子", "宝宝", "我家娃", "小朋友"),
    "kid_age": ("三岁", "四岁", "五岁半", "六岁", "七岁", "八岁", "九岁", "十岁"),
    "teen_age": ("十二岁", "十三岁", "十四岁", "十五岁", "上初二", "上初一", "刚上高一"),
    "adult_age": ("二十八岁", "三十岁", "三十五岁", "快四十", "二十五岁"),
    "when": ("昨天", "前天", "上周", "今天上午", "今天下午", "上周六", "周末", "前几天", "上个月"),
    "hour": ("九", "十", "两", "三", "四", "七", "十点半的", "下午两点半的"),
    "wait": ("四十分钟", "快一个小时", "一个多小时", "半个多小时", "整整一个小时", "将近两个小时", "五十分钟"),
    "pain": ("有点疼", "隐隐作痛", "一阵一阵地疼", "疼得睡不着", "咬东西的时候疼", "有点酸胀", "一碰就疼",
             "冷热都敏感"),
    "days": ("两天", "三天", "一个星期", "好几天", "四五天", "十来天", "半个月"),
    "price_item": ("洗牙", "补牙", "根管治疗", "种植牙", "隐形矫正", "牙齿美白", "烤瓷牙", "全瓷冠", "窝沟封闭",
                   "拔智齿", "牙周治疗", "活动假牙", "儿童涂氟"),
    "price": ("280", "300", "1200", "两千多", "一万多", "三万五", "八千", "四百", "六百多"),
    "metro": ("地铁1号线", "地铁2号线", "地铁3号线", "地铁4号线", "地铁7号线", "公交"),
    "holiday": ("国庆", "春节", "五一", "端午", "中秋"),
    "good": ("医生很耐心", "一点都不疼", "环境很干净", "前台服务热情", "价格透明", "讲解很详细", "预约很准时",
             "洗得很干净", "消毒很规范", "小朋友一点都不怕", "护士很温柔", "复诊提醒很及时", "技术很专业"),
    "good2": ("会推荐给朋友", "下次还来", "全家都在这里看", "值得信赖", "五星好评", "以后就认准这家了",
              "很放心", "非常满意"),
    "minor": ("停车不太方便", "周末人有点多", "价格稍微有点贵", "等了一小会儿", "位置有点难找", "电梯要等很久",
              "候诊区有点挤"),
    "bad": ("预约了还等了一个多小时", "医生态度敷衍", "一直推销办卡", "收费不透明", "做完一直疼", "前台态度很差",
            "补的牙没几天就掉了", "结账多收了钱", "说话很不耐烦", "和说好的价格不一样", "检查做了一堆没必要的"),
    "bad2": ("体验很差", "不会再来了", "不推荐", "太坑了", "很失望", "差评", "再也不来了", "避雷"),
}

# topic -> (sentiment, templates)
CONSULT_TOPICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "price_question": ("neutral", (
        "{greet}请问{price_item}多少钱{tail}",
        "{greet}{price_item}现在有没有优惠活动？",
        "{greet}想了解一下{price_item}的价格，{ctx_clinic}和其他店价格一样吗{tail}",
        "做一次{price_item}大概需要多少费用？可以分期吗",
        "{greet}你们{price_item}是什么价位？国产和进口的差多少{tail}",
        "请问{price_item}包含检查费和拍片费吗{tail}",
        "{price_item}的团购券在{ctx_clinic}能用吗",
        "{greet}{price_item}一般要做几次，总共多少钱{tail}",
        "想问下{price_item}有没有套餐，一家人一起做便宜点吗",
    )),
    "rct_pain": ("doubt", (
        "{greet}我{when}在{ctx_clinic}做了根管治疗，现在{pain}，正常吗{tail}",
        "根管治疗做完{days}了还{pain}，是不是没做好？",
        "做完根管{pain}，要不要回去复查？{ctx_doctor}说会有点反应，但已经{days}了",
        "请问根管治疗之后多久可以正常吃东西？现在还{pain}",
        "{greet}根管第二次复诊之后{pain}，吃了止疼药也不管用{stail}",
        "做了根管的那颗牙{pain}，会不会要拔掉啊，有点担心",
    )),
    "aligner_question": ("neutral", (
        "{greet}隐形矫正和传统钢牙套哪个效果好{tail}",
        "我{adult_age}了还能做矫正吗？隐形的和托槽的有什么区别",
        "{child}{teen_age}，牙齿有点不齐，适合做隐形矫正吗{tail}",
        "隐形矫正一天要戴多少个小时？会影响说话吗",
        "金属托槽和陶瓷托槽价格差多少{tail}",
        "{greet}矫正大概要多长时间？中途可以换成隐形的吗",
        "想约个正畸面诊，{ctx_clinic}周末有号吗{tail}",
        "{child}{teen_age}，牙医说有点地包天，多大开始矫正合适{tail}",
    )),
    "kids_question": ("neutral", (
        "{greet}{child}{kid_age}，需要做窝沟封闭吗{tail}",
        "窝沟封闭能管几年？{child}怕疼，会疼吗",
        "{child}的乳牙有黑点，要补吗还是等换牙{tail}",
        "涂氟多久做一次比较好？{child}今年{kid_age}",
        "寒假想带{child}来做个口腔检查，需要提前预约吗",
        "暑假有儿童口腔检查的活动吗{tail}",
        "{greet}{child}{kid_age}，门牙长歪了，要不要早点干预{tail}",
        "{child}刷牙总是出血，需要带过来看看吗",
    )),
    "implant_question": ("doubt", (
        "{greet}种植牙做完{days}了，牙龈还有点肿，正常吗{tail}",
        "种植手术后可以刷牙吗？伤口有点渗血",
        "{ctx_doctor}说种植体要三个月才能装牙冠，这期间要注意什么{tail}",
        "种植牙会不会排异？我有点担心",
        "种植后吃消炎药{days}了，还是{pain}",
        "我有高血压，能做种植牙吗？会不会有风险{tail}",
        "种植牙能用多少年？听说有的几年就松了",
    )),
    "insurance_question": ("neutral", (
        "{greet}你们那里可以用医保吗{tail}",
        "洗牙能刷医保卡吗",
        "医保个人账户可以付{price_item}的费用吗{tail}",
        "商业保险能报销吗？需要开什么材料",
        "请问可以开发票吗，公司报销用{tail}",
        "{greet}异地医保能在{ctx_clinic}用吗{tail}",
    )),
    "logistics": ("neutral", (
        "{greet}{ctx_clinic}有停车位吗{tail}",
        "周末营业吗？晚上几点关门{tail}",
        "请问{ctx_clinic}怎么走，坐{metro}到哪站下",
        "我想把{when}约的时间改到下周，可以吗",
        "{ctx_doctor}周几出诊{tail}",
        "预约的时间可能要晚到二十分钟，麻烦帮我跟医生说一下",
        "{holiday}期间正常营业吗{tail}",
        "{greet}我的预约是几点来着？忘记了{stail}",
        "上次的片子能发给我一份电子版吗",
        "需要带身份证或者医保卡吗{tail}",
        "我想取消明天的预约，最近有点忙",
    )),
    "praise": ("satisfied", (
        "{ctx_doctor}技术很好，一点都不疼，谢谢{stail}",
        "{ctx_clinic}环境很好，护士很耐心，{child}做检查一点都没哭",
        "感谢{ctx_doctor}，牙齿终于不疼了，晚上能睡个好觉了",
        "上次{ctx_treat}做得很好，已经推荐给朋友了",
        "服务很周到，复诊提醒也很及时，点赞👍",
        "矫正结束了，效果很满意，谢谢{ctx_doctor}和团队",
        "前台小姐姐很热情，{ctx_doctor}讲解很详细，{good}",
        "{good}，{good2}，谢谢{ctx_clinic}的各位",
        "{ctx_treat}之后恢复得很好，{ctx_doctor}真的很专业",
    )),
    "worry": ("doubt", (
        "{ctx_doctor}说我要做{ctx_treat}，是不是真的有必要？",
        "感觉{ctx_treat}的方案有点贵，能不能先做保守治疗{tail}",
        "补的牙好像有点高，咬合不舒服，要回去调吗",
        "洗完牙牙缝变大了，是不是洗坏了{tail}",
        "牙齿美白会不会伤牙？有点犹豫",
        "拍片子辐射大不大，我在备孕{tail}",
        "做完{ctx_treat}牙齿有点松，正常吗",
        "{ctx_treat}做完{days}了还是{pain}，要不要再观察一下",
        "上次说的{ctx_treat}费用有点超预算，我再考虑考虑",
        "在别家问的方案和你们不一样，不知道该信哪个",
    )),
    "complaint_wait": ("complaint", (
        "{when}约的{hour}点，结果等了{wait}才看上，预约还有什么意义{angry_tail}",
        "每次来{ctx_clinic}都要等很久，今天又等了{wait}{angry_tail}",
        "预约了还让我等{wait}，前台也不解释一下{angry_tail}",
        "医生还行，但是等了{wait}，请了半天假全耽误了{angry_tail}",
        "{ctx_clinic}的预约系统形同虚设，准时到了还是排了{wait}{angry_tail}",
    )),
    "complaint_attitude": ("complaint", (
        "{ctx_clinic}前台态度很差，问个问题爱答不理{angry_tail}",
        "{ctx_doctor}全程不耐烦，问两句就说不懂就别问了{angry_tail}",
        "护士操作很粗暴，{child}吓哭了，没有一点耐心{angry_tail}",
        "打电话问事情被挂了两次，这就是你们的服务？",
        "{when}去复诊，{ctx_doctor}一直在看手机，敷衍了事{angry_tail}",
    )),
    "complaint_price": ("complaint", (
        "{ctx_treat}收费太贵了，比别家贵了一大截{angry_tail}",
        "说好的{price}结果最后收了这么多，乱收费{angry_tail}",
        "每次去都推销各种项目，感觉就是为了赚钱{angry_tail}",
        "同样的{price_item}别的诊所便宜一半，不会再来了",
        "会员卡充了钱，结果很多项目都不能用，被坑了{angry_tail}",
        "{ctx_treat}前没说清楚费用，做完才告诉我要{price}{angry_tail}",
    )),
    "complaint_pain": ("complaint", (
        "做完{ctx_treat}疼了{days}，打电话问也没人管{angry_tail}",
        "{ctx_doctor}打麻药之前也不说一声，疼得我差点跳起来{angry_tail}",
        "补的牙{days}就掉了，还要我再付钱？",
        "拔完牙一直流血，回去复查医生只说正常{angry_tail}",
        "{ctx_treat}越做越疼，感觉被当成试验品了{angry_tail}",
    )),
    "complaint_billing": ("complaint", (
        "收费单上多了一项我没做的检查，麻烦核实一下{angry_tail}",
        "优惠券明明能用，结账的时候说不能用{angry_tail}",
        "会员卡余额被多扣了{price}块，要求退回{angry_tail}",
        "刷了两次卡，到现在还没退款{angry_tail}",
        "发票开错了，抬头不对，联系了几次都没人处理{angry_tail}",
    )),
    "moving_away": ("neutral", (
        "我搬到{ctx_district}了，那边有你们的门店吗{tail}",
        "离{ctx_clinic}太远了，能把病历转到别的诊所吗",
        "换工作去{ctx_district}了，以后可能不方便过去，剩下的复查怎么办",
        "{greet}现在住{ctx_district}，过去要一个多小时，有没有近一点的店{tail}",
    )),
}

REVIEW_TEMPLATES: dict[int, tuple[str, ...]] = {
    5: ("{ctx_doctor}很专业，{good}，{good2}！", "环境干净，{good}，给{child}做的检查，很满意",
        "在{ctx_clinic}做的{ctx_treat}，{good}，{good2}", "{good}，服务也到位，{good2}", "第二次来了，一直很信任{ctx_doctor}",
        "{ctx_treat}做完一点都不疼，{ctx_doctor}手法很轻，{good2}", "此用户没有填写评价。", "好评！{good}"),
    4: ("整体不错，{good}，就是{minor}", "{ctx_doctor}挺好的，{good}，{minor}", "{good}，扣一星是因为{minor}",
        "做了{ctx_treat}，效果还可以，{minor}", "此用户没有填写评价。"),
    3: ("一般般吧，{good}，但{bad}", "{ctx_treat}效果还行，{bad}", "中规中矩，{minor}，{bad}", "还可以，就是{bad}"),
    2: ("{bad}，{bad2}", "{ctx_treat}做完{bad}，{bad2}", "{bad}，而且{minor}，{bad2}", "本来印象还行，{bad}"),
    1: ("{bad}，{bad2}！", "避雷！{bad}，{bad2}", "{ctx_clinic}{bad}，{bad2}", "{ctx_treat}{bad}，投诉无门，{bad2}"),
}

PHONE_PREFIX: dict[str, tuple[str, ...]] = {
    "neutral": ("来电咨询：", "客户来电：", "来电："),
    "doubt": ("患者来电咨询：", "来电：", "电话回访：患者表示"),
    "satisfied": ("电话回访：", "患者来电表示感谢："),
    "complaint": ("患者来电反映：", "来电投诉：", "电话投诉："),
}

_SLOT_RE = re.compile(r"\{(\w+)\}")
TOPICS: tuple[str, ...] = tuple(CONSULT_TOPICS)
TOPIC_SENTIMENT = np.array([CONSULT_TOPICS[t][0] for t in TOPICS], dtype=object)


def _render_one_template(rng, template: str, rows: np.ndarray, ctx: dict[str, np.ndarray]) -> np.ndarray:
    parts = _SLOT_RE.split(template)
    s = np.full(rows.size, "", dtype=object)
    for i, part in enumerate(parts):
        if i % 2 == 0:
            if part:
                s = s + part
        elif part.startswith("ctx_"):
            s = s + ctx[part][rows]
        else:
            bank = np.array(SLOTS[part], dtype=object)
            s = s + bank[rng.integers(0, bank.size, rows.size)]
    return s


def render(rng, templates: tuple[str, ...], n: int, ctx: dict[str, np.ndarray]) -> np.ndarray:
    """One message per row from a random template of ``templates``."""
    out = np.empty(n, dtype=object)
    t = rng.integers(0, len(templates), n)
    for ti in range(len(templates)):
        rows = np.flatnonzero(t == ti)
        if rows.size:
            out[rows] = _render_one_template(rng, templates[ti], rows, ctx)
    return out


def render_consults(rng, topic: np.ndarray, phone: np.ndarray, ctx: dict[str, np.ndarray]) -> np.ndarray:
    """Consult texts for topic indices (into :data:`TOPICS`); phone calls read as staff notes."""
    n = topic.size
    out = np.empty(n, dtype=object)
    for ti, name in enumerate(TOPICS):
        rows = np.flatnonzero(topic == ti)
        if rows.size == 0:
            continue
        sub_ctx = {k: v[rows] for k, v in ctx.items()}
        out[rows] = render(rng, CONSULT_TOPICS[name][1], rows.size, sub_ctx)
    ph = np.flatnonzero(phone)
    if ph.size:
        sent = TOPIC_SENTIMENT[topic[ph]]
        prefix = np.empty(ph.size, dtype=object)
        for s, opts in PHONE_PREFIX.items():
            m = sent == s
            prefix[m] = np.array(opts, dtype=object)[rng.integers(0, len(opts), int(m.sum()))]
        out[ph] = prefix + out[ph]
    return out


def render_reviews(rng, stars: np.ndarray, ctx: dict[str, np.ndarray]) -> np.ndarray:
    n = stars.size
    out = np.empty(n, dtype=object)
    for s, templates in REVIEW_TEMPLATES.items():
        rows = np.flatnonzero(stars == s)
        if rows.size:
            out[rows] = render(rng, templates, rows.size, {k: v[rows] for k, v in ctx.items()})
    return out
