"""Vocabularies of the demo datasets: names, places, codes and phrases.

Everything here is a plain tuple so that the generators can turn it into an
Arrow array once and pick from it with vectorized ``take``. District names are
the real ones for the GB/T 2260 codes in ``_city.DISTRICTS``; roads, streets,
people and enterprises are made up.
"""

from __future__ import annotations

PROVINCE = "浙江省"
CITY = "杭州市"
DISTRICT_NAMES = {
    "330102": "上城区",
    "330105": "拱墅区",
    "330106": "西湖区",
    "330108": "滨江区",
    "330109": "萧山区",
    "330110": "余杭区",
    "330111": "富阳区",
    "330112": "临安区",
}
# Approximate district centres (WGS 84 longitude, latitude).
DISTRICT_CENTRES = {
    "330102": (120.171, 30.250),
    "330105": (120.142, 30.319),
    "330106": (120.130, 30.259),
    "330108": (120.212, 30.209),
    "330109": (120.264, 30.184),
    "330110": (120.300, 30.419),
    "330111": (119.960, 30.049),
    "330112": (119.724, 30.233),
}

# GB/T 2260 county codes used as birth places in resident IDs, with the years
# in which python-stdnum's table knows them (0 = no bound). Most residents were
# born in the city; a share were born elsewhere in Zhejiang or China.
BIRTH_PLACES: tuple[tuple[int, int, int], ...] = (
    (330102, 1983, 0),
    (330105, 1983, 0),
    (330106, 1983, 0),
    (330108, 1996, 0),
    (330109, 2001, 0),
    (330110, 2001, 0),
    (330111, 2014, 0),
    (330112, 2017, 0),
    (330122, 0, 0),  # 桐庐县
    (330127, 0, 0),  # 淳安县
    (110101, 0, 0),  # 北京市东城区
    (310101, 0, 0),  # 上海市黄浦区
)
# Places valid in every year, used when a birth year predates a district code.
TIMELESS_BIRTH_PLACES = tuple(code for code, start, end in BIRTH_PLACES if not start and not end)

# The hundred commonest surnames, roughly in order of frequency, and two compound ones.
SURNAMES = (
    *tuple(
        "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
        "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武"
    ),
    "欧阳",
    "司马",
)
GIVEN_CHARS = tuple(
    "伟芳娜敏静磊洋艳勇军杰娟涛明超霞平刚桂英华玉兰萍建国志强文丽红梅斌鹏飞宇浩然子轩梓涵欣怡佳琪晨"
    "阳雨婷思远博文俊杰嘉慧雪松海燕春秋永福德安宁康乐晓东亮辉新秀云凤琳丹莉颖倩雯瑞泽昊天一诺若曦"
)
# Characters outside GBK (CJK Extension A and B), kept for the GB18030 file.
RARE_GIVEN_CHARS = ("䶮", "𠮷", "䶵", "𬌗")

STREET_WORDS = tuple("文学天古丰庆江湖塘星云龙凤翠竹桂梅柳莲荷松柏秋春明华兴和宁康新安定平")
# No common surname starts a road name, so that "江华路" cannot pass for a person's name.
ROAD_FIRST = tuple("学天丰庆湖塘星翠竹莲荷松秋春兴新定平")
ROAD_SUFFIXES = ("路", "街", "大道", "巷")
SUBDISTRICTS = tuple(
    w + "街道" for w in ("城东", "城西", "湖滨", "北山", "南星", "东新", "长庆", "闻堰")
)
COMMUNITIES = ("花园", "新村", "家园", "苑", "府", "公寓", "小区", "佳苑")

EMAIL_DOMAINS = ("163.com", "126.com", "qq.com", "sina.com", "139.com", "outlook.com")
# Bank identification numbers of debit cards and the issuing banks' names.
BANKS = (
    ("622202", "中国工商银行"),
    ("621700", "中国建设银行"),
    ("622848", "中国农业银行"),
    ("621661", "中国银行"),
    ("622588", "招商银行"),
    ("623061", "浙江农商银行"),
)
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I or O on Chinese plates

# GB/T 4754-2017 sections: code, name, words used in enterprise names.
INDUSTRIES = (
    ("A", "农、林、牧、渔业", ("农业", "茶业", "生态农业")),
    ("C", "制造业", ("机械", "电子", "服饰", "食品", "新材料")),
    ("E", "建筑业", ("建筑工程", "装饰工程", "市政工程")),
    ("F", "批发和零售业", ("贸易", "商贸", "电子商务", "百货")),
    ("G", "交通运输、仓储和邮政业", ("物流", "运输", "供应链")),
    ("H", "住宿和餐饮业", ("餐饮管理", "酒店管理", "餐饮")),
    ("I", "信息传输、软件和信息技术服务业", ("网络科技", "信息技术", "软件", "数据科技")),
    ("L", "租赁和商务服务业", ("企业管理咨询", "商务服务", "人力资源")),
    ("M", "科学研究和技术服务业", ("生物科技", "检测技术", "工程设计")),
    ("R", "文化、体育和娱乐业", ("文化传媒", "体育发展", "影视")),
)
# GB/T 4754 weights of each section among registered enterprises (sum 100).
INDUSTRY_WEIGHTS = (3, 14, 8, 32, 6, 8, 11, 10, 5, 3)
BRAND_CHARS = tuple("恒瑞华通鑫源盛达锦程宏远嘉禾润泽天成博睿众诚明德新越之江钱塘西子凯旋和信卓越")
SHOP_WORDS = ("便利店", "小吃店", "理发店", "水果店", "五金店", "服装店", "面馆", "药房")

# Common outpatient diagnoses: ICD-10 code, Chinese name, department, symptom phrase.
# ``who`` limits a diagnosis to children (c), women (f), men (m) or adults of either sex (a).
DIAGNOSES: tuple[tuple[str, str, str, str, str], ...] = (
    ("J06.9", "急性上呼吸道感染", "呼吸内科", "咳嗽、流涕", "a"),
    ("J20.9", "急性支气管炎", "呼吸内科", "咳嗽咳痰", "a"),
    ("J18.9", "肺炎", "呼吸内科", "发热伴咳嗽", "a"),
    ("J45.9", "哮喘", "呼吸内科", "反复喘息", "a"),
    ("I10", "原发性高血压", "心血管内科", "头晕", "a"),
    ("I25.1", "动脉硬化性心脏病", "心血管内科", "活动后胸闷", "a"),
    ("I48", "心房颤动", "心血管内科", "心悸", "a"),
    ("E11.9", "2型糖尿病", "内分泌科", "口干多饮", "a"),
    ("E78.5", "高脂血症", "内分泌科", "体检发现血脂升高", "a"),
    ("K29.7", "胃炎", "消化内科", "上腹部不适", "a"),
    ("K21.9", "胃食管反流病", "消化内科", "反酸烧心", "a"),
    ("K80.2", "胆囊结石", "消化内科", "右上腹痛", "a"),
    ("M54.5", "腰痛", "骨科", "腰部疼痛", "a"),
    ("M17.9", "膝关节病", "骨科", "膝关节疼痛", "a"),
    ("M81.9", "骨质疏松", "骨科", "腰背酸痛", "a"),
    ("G43.9", "偏头痛", "神经内科", "反复头痛", "a"),
    ("I63.9", "脑梗死", "神经内科", "肢体乏力", "a"),
    ("F32.9", "抑郁发作", "精神心理科", "情绪低落、失眠", "a"),
    ("F41.1", "广泛性焦虑障碍", "精神心理科", "紧张不安", "a"),
    ("H10.9", "结膜炎", "眼科", "眼红眼痒", "a"),
    ("K02.9", "龋病", "口腔科", "牙痛", "a"),
    ("L30.9", "皮炎", "皮肤科", "皮肤瘙痒", "a"),
    ("N76.0", "急性阴道炎", "妇科", "下腹不适", "f"),
    ("N92.0", "月经过多", "妇科", "月经量多", "f"),
    ("N40", "前列腺增生", "泌尿外科", "尿频", "m"),
    ("J02.9", "急性咽炎", "儿科", "咽痛发热", "c"),
    ("J03.9", "急性扁桃体炎", "儿科", "发热", "c"),
    ("A09", "感染性腹泻", "儿科", "腹泻", "c"),
    ("H52.1", "近视", "眼科", "视物模糊", "c"),
)
HOSPITALS = (
    "示范市第一人民医院",
    "示范市中医院",
    "示范市妇幼保健院",
    "示范市儿童医院",
    "西湖区人民医院",
    "萧山区第一人民医院",
    "余杭区中医院",
    "城东街道社区卫生服务中心",
    "北山街道社区卫生服务中心",
    "南星街道社区卫生服务中心",
)
CLINIC_REMARKS = ("复诊", "预约挂号", "医保卡未带", "转诊", "需随访")
CLINIC_COURSES = (
    "，自服药物效果不佳，今来就诊",
    "，无发热，今来我院就诊",
    "，症状加重，要求进一步检查",
)
SOCIAL_REMARKS = ("单位申报缴费基数调整，自本月起执行", "补缴2023年度欠缴的养老保险费")

ASSISTANCE = (
    ("最低生活保障", 1120, 3600),
    ("特困人员供养", 1456, 1800),
    ("低收入家庭救助", 560, 1500),
    ("临时救助", 800, 5000),
)
CIVIL_REMARKS = (
    "年度复核通过，按原标准发放",
    "本人领取，家庭情况无变化",
    "新增救助对象，自本月起发放",
    "收入核查后调整救助标准",
    "停发后恢复，补发上月救助金",
)

FACILITY_KINDS = (
    ("公园", "{road}公园", "06:00-22:00"),
    ("公共厕所", "{road}公厕", "全天"),
    ("图书馆", "{sub}图书分馆", "09:00-20:30"),
    ("体育场馆", "{sub}全民健身中心", "08:00-21:00"),
    ("停车场", "{road}公共停车场", "全天"),
    ("充电站", "{road}充电站", "全天"),
    ("应急避难场所", "{sub}应急避难场所", "全天"),
    ("养老服务中心", "{sub}居家养老服务中心", "08:00-17:30"),
    ("文化礼堂", "{sub}文化家园", "08:30-21:00"),
    ("公交首末站", "{road}公交站", "05:30-23:00"),
)

COMPLAINT_KINDS = (
    ("噪声", "夜间施工噪声扰民", "晚上十点以后还在施工"),
    ("大气", "餐饮油烟直排", "每天中午和傍晚油烟很大"),
    ("大气", "工地扬尘严重", "刮风时粉尘到处飞"),
    ("水", "河道有异味并漂浮垃圾", "最近一周明显加重"),
    ("固废", "建筑垃圾乱倒", "晚上有车偷偷倾倒"),
    ("噪声", "商铺音响声音过大", "周末全天放音乐"),
    ("黑烟车", "货车冒黑烟", "经常在早高峰经过"),
)
COMPLAINT_CHANNELS = ("12345热线", "政府网站", "微信公众号", "来电", "来访")
COMPLAINT_STATES = ("已办结", "已办结", "已办结", "处理中", "已转办")

ROAD_DIRECTIONS = ("东向西", "西向东", "南向北", "北向南")
