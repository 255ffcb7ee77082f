// The word lists behind the name-based guardrails, fixed in code on purpose: a policy
// cannot switch them off. They are the second line of defence. The first line is
// structural (the catalogue of permitted record categories, typed record fields and
// constant folding in compile.ts and cel.ts): a word list can always be beaten by the
// next synonym, so nothing here is the only thing standing between an author and a
// refusal that matters.
//
// How a name is matched, and why:
// - It is split into words on every separator and on camelCase, accents are dropped
//   ("religión", "Gläubiger" → "religion", "glaubiger"), and letters and digits are
//   split apart ("covid19").
// - Each word is compared as written and with simple inflection suffixes removed
//   (see `stems`), so "protesters" and "churches" match "protest" and "church". No
//   stemming library is installed, and a handful of documented suffix rules is easier
//   for an official to predict than a full stemmer.
// - Neighbouring words are compared as a phrase and glued together, so "trade union",
//   "trade-union", "tradeUnion" and "fa-lun-gong" all match.
// - A short list of distinctive stems is also found inside glued compounds
//   ("Gewerkschaftsmitglied", "guarantorid", "churchgoer"). The list is curated because
//   substring matching of short words would refuse "fundamental" as "mental".
// - Chinese terms (characters) are found anywhere in a text; their pinyin is matched
//   like any other word, syllables glued or not.
// - Legal phrases that only look like grounds ("bad faith", "housing association",
//   "audit opinion") are taken out before matching: see `allowedPhrases`.

export type Ground =
  | "political opinion"
  | "speech or expression"
  | "religion or belief"
  | "ethnic origin"
  | "association or assembly"
  | "trade-union membership"
  | "health"
  | "sex life or orientation"
  | "biometrics"
  | "family or relationships";

// Terms are written lower-case without accents; a term with a space is a phrase.
const groundTerms: Record<Ground, string[]> = {
  "political opinion": [
    "political", "politics", "politically", "opinion", "opinions", "dissent", "dissident", "dissidents", "petition",
    "petitions", "petitioner", "petitioners", "petitioning", "vote", "votes", "voting", "voter", "ideology", "ideological",
    "disloyal", "disloyalty", "political loyalty", "party loyalty", "subversion", "subversive", "tiananmen",
    "june fourth", "six four", "may 35", "regime critic", "regime critics", "separatism", "separatist",
    // fr, de, es
    "politique", "politiques", "opinion politique", "dissidence", "petitionnaire", "politisch", "politische", "politischen",
    "politik", "meinung", "meinungen", "gesinnung", "regimekritiker", "politica", "politico", "politicas", "politicos",
    "opinion politica", "disidente", "disidencia",
    // pinyin (Chinese characters are in cjkTerms)
    "zhengzhi", "shangfang", "xinfang", "yijianrenshi", "liusi", "fandong",
    "political activity", "political donations", "independence movement", "dalai", "tibet independence", "june 4",
    "minzhu", "renquan", "weiquan", "human rights activist", "democracy activist",
  ],
  "speech or expression": [
    "speech", "expression", "posts", "online comments", "critical comments", "posting", "social media", "socialmedia", "weibo",
    "wechat", "tweet", "tweets", "tweeting", "blog", "blogs", "blogger", "bloggers", "criticism", "criticising",
    "criticizing", "critical of", "rumor", "rumors", "rumour", "rumours", "online speech", "publication of",
    "censorship", "journalism", "journalist", "journalists", "press freedom", "opinion post", "free speech",
    "discours", "liberte d expression", "meinungsaeusserung", "meinungsausserung", "meinungsfreiheit", "rede freiheit",
    "discurso", "libertad de expresion", "publicacion", "yanlun", "fatie", "yaoyan",
    "negative comments", "vpn", "censorship circumvention", "great firewall",
  ],
  "religion or belief": [
    "religion", "religions", "religious", "belief", "beliefs", "faith", "church", "churches", "mosque", "mosques",
    "temple attendance", "synagogue", "worship", "worshipping", "prayer", "prayers", "praying", "atheist", "atheism",
    "christian", "christians", "muslim", "muslims", "islam", "islamic", "buddhist", "buddhism", "jewish", "hindu",
    "falun", "falungong", "cult", "cults", "sect", "sects", "spiritual", "pilgrimage", "pilgrimages", "pilgrim", "pilgrims",
    "hajj", "umrah", "sermon", "baptism", "mass attendance", "churchgoer", "ramadan", "quran", "koran", "bible", "halal",
    "kosher", "headscarf", "hijab", "veil", "apostasy", "blasphemy", "heresy",
    "religieux", "religieuse", "croyance", "croyances", "eglise", "mosquee", "culte", "priere", "pelerinage", "foi",
    "religion", "religios", "religiose", "religiosen", "glaube", "glauben", "glaubens", "kirche", "kirchen", "moschee",
    "synagoge", "gebet", "gottesdienst", "konfession", "sekte", "wallfahrt", "pilgerfahrt", "kirchgang",
    "religioso", "religiosa", "creencia", "creencias", "iglesia", "mezquita", "sinagoga", "culto", "oracion",
    "peregrinacion", "secta",
    "temple visit", "temple visits", "mecca", "monastery", "monk", "monks", "nun", "imam", "priest", "pastor",
    "friday prayers", "religious group", "religious activity", "jehovah", "jehovahs",
    "jidujiao", "fojiao", "tianzhujiao", "yisilanjiao", "daojiao", "catholic", "catholics", "protestant", "protestants",
    "evangelical", "sikh", "sikhs", "misa", "messe", "croyant", "croyants", "glaubige", "jiaotang", "baifo",
    "zongjiao", "xinyang", "jiaohui", "qingzhensi", "simiao", "chaosheng", "xiejiao", "libai",
  ],
  "ethnic origin": [
    "ethnic", "ethnicity", "race", "races", "racial", "ancestry", "uyghur", "uighur", "uyghurs", "tibetan", "tibetans",
    "roma", "ethnic minority", "national minority", "caste", "tribe", "tribal", "skin colour", "skin color",
    "national origin", "nationality", "citizenship", "birthplace", "place of birth", "native place", "hukou", "immigrant",
    "migrant background", "ethnique", "origine ethnique", "raciale", "nationalite", "ethnisch", "ethnische", "ethnie",
    "abstammung", "herkunft", "rasse", "staatsangehorigkeit", "etnico", "etnica", "etnia", "raza", "origen etnico",
    "nacionalidad", "minzu", "shaoshuminzu", "weiwuer", "zangzu", "jiguan",
    "kazakh", "gypsy", "gypsies", "foreigner", "foreigners", "foreign national", "foreign nationals",
    "minority status", "tibet", "xinjiang", "migrant worker", "migrant workers", "migrationshintergrund",
    "weiwuerzu",
  ],
  "association or assembly": [
    "association", "associations", "assembly", "assemblies", "protest", "protests", "protester", "protesters",
    "protesting", "demonstration", "demonstrations", "demonstrator", "demonstrators", "rally", "rallies", "sit in",
    "activism", "activist", "activists", "gathering", "gatherings", "march organiser", "ngo membership",
    "manifestation", "manifestations", "manifestant", "manifestants", "rassemblement", "assemblee", "reunion publique",
    "versammlung", "versammlungen", "kundgebung", "demonstrant", "demonstranten", "verein", "vereinsmitglied",
    "manifestacion", "manifestaciones", "manifestante", "protesta", "protestas", "asamblea", "asociacion",
    "ngo", "ngos", "secret society", "club membership", "civil society", "vigil", "vigils",     "jihuiyouxing", "shiwei", "kangyi", "jieshe",
  ],
  "trade-union membership": [
    "trade union", "tradeunion", "labour union", "labor union", "union member", "union membership", "union members",
    "unionist", "unionists", "unionised", "unionized", "collective bargaining", "picket", "picketing", "strike action",
    "syndicat", "syndical", "syndicale", "syndicaliste", "greve", "gewerkschaft", "gewerkschaften", "gewerkschafter",
    "gewerkschaftsmitglied", "betriebsrat", "streik", "sindicato", "sindical", "sindicalista", "huelga", "gonghui",
    "industrial action", "walkout", "strike participation", "on strike", "went on strike",
  ],
  health: [
    "health", "medical", "illness", "illnesses", "disease", "diseases", "diagnosis", "diagnosed", "hiv",     "mental", "psychiatric", "disability", "disabilities", "disabled", "pregnancy", "pregnant", "covid", "vaccination",
    "vaccinated", "unvaccinated", "vaccine", "vaccines", "genetic", "genome", "dna", "patient", "patients", "symptom",
    "symptoms", "infection", "infected", "addiction", "therapy", "sick", "sickness", "clinic visit",     "sante", "maladie", "medicale", "handicap", "handicape", "grossesse", "vaccin", "vaccine", "gesundheit",
    "krankheit", "krank", "diagnose", "behinderung", "behindert", "schwanger", "schwangerschaft", "impfung", "geimpft",
    "ungeimpft", "salud", "enfermedad", "medico", "discapacidad", "embarazo", "embarazada", "vacuna", "vacunacion",
    "jiankang", "jibing", "canji", "huaiyun", "yimiao", "jingshenbing", "bingli",
    "abortion", "abortions", "contraception", "alcoholism", "wheelchair", "mental illness", "medical condition",
  ],
  "sex life or orientation": [
    "sex life", "sexlife", "orientation", "sexuality", "sexual orientation", "gay", "lesbian", "homosexual", "homosexuality",
    "bisexual", "transgender", "lgbt", "lgbtq", "lgbtqi", "queer", "dating", "adultery", "cohabitation", "cohabiting",
    "cohabit", "premarital", "unmarried couple", "out of wedlock", "living together", "gender identity", "sexual partner",
    "orientation sexuelle", "homosexuel", "homosexuelle", "concubinage", "adultere", "sexualitat", "sexuelle orientierung",
    "homosexuell", "ehebruch", "konkubinat", "orientacion sexual", "homosexualidad", "adulterio", "cohabitacion",
    "concubinato", "tongxinglian", "tongju", "hunqian", "xingquxiang", "tongjian",
    "common law partner", "living in sin", "extramarital", "same sex", "samesex",
  ],
  biometrics: [
    "biometric", "biometrics", "facial", "face scan", "face image", "face match", "fingerprint", "fingerprints", "iris",
    "retina", "gait", "voiceprint", "palmprint", "face recognition", "facial recognition", "biometrique",
    "empreinte digitale", "empreintes digitales", "reconnaissance faciale", "biometrisch", "fingerabdruck",
    "gesichtserkennung", "biometrico", "huella dactilar", "reconocimiento facial", "zhiwen", "renlian", "renlianshibie",
    "hongmo", "shengwen",
  ],
  "family or relationships": [
    "family", "families", "relative", "relatives", "relationship", "relationships", "kin", "kinship", "parent", "parents",
    "parental", "child", "children", "son", "sons", "daughter", "daughters", "spouse", "spouses", "husband", "wife",
    "sibling", "siblings", "brother", "sister", "household", "households", "marriage", "married", "divorce", "divorced",
    "father", "mother", "offspring", "descendant", "descendants", "grandparent", "grandchild", "friend", "friends",
    "acquaintance", "acquaintances", "associate", "associates", "partner of", "next of kin", "guardian of", "in laws",
    "famille", "parente", "enfant", "enfants", "conjoint", "epoux", "epouse", "mari", "frere", "soeur", "menage",
    "mariage", "divorce", "familie", "familien", "verwandte", "verwandter", "verwandtschaft", "angehorige", "angehoriger",
    "kinder", "eltern", "ehepartner", "ehefrau", "ehemann", "ehe", "bruder", "schwester", "haushalt", "scheidung",
    "familia", "familiar", "familiares", "pariente", "parientes", "hijo", "hijos", "hija", "hijas", "padre", "padres",
    "madre", "conyuge", "esposo", "esposa", "hermano", "hermana", "hogar", "matrimonio", "divorcio",
    "jiating", "jiashu", "qinshu", "zinv", "zinu", "fumu", "peiou", "qinqi", "hunyin", "lihun",
  ],
};

// Chinese terms, matched anywhere in a text (Chinese has no spaces between words).
const cjkGroundTerms: Record<Ground, string[]> = {
  "political opinion": ["政治", "上访", "信访", "异见", "反动", "六四", "五月三十五", "政见", "颠覆", "民主", "人权", "维权", "达赖", "台独", "藏独", "疆独"],
  "speech or expression": ["言论", "发帖", "微博", "微信", "谣言", "網路言論", "网络言论", "转发"],
  "religion or belief": ["宗教", "信仰", "天主教", "道教", "佛教", "基督教", "教会", "教會", "清真寺", "寺庙", "寺廟", "礼拜", "禮拜", "法轮", "法輪", "邪教", "朝圣", "朝聖", "祈祷", "祈禱", "佛教", "基督", "伊斯兰", "伊斯蘭"],
  "ethnic origin": ["民族", "少数民族", "维吾尔", "維吾爾", "藏族", "种族", "種族", "户籍", "戶籍", "籍贯", "籍貫", "户口", "戶口"],
  "association or assembly": ["集会", "集會", "游行", "遊行", "示威", "抗议", "抗議", "结社", "結社", "社团", "社團"],
  "trade-union membership": ["工会", "工會", "罢工", "罷工"],
  health: ["健康", "疾病", "病历", "病歷", "残疾", "殘疾", "怀孕", "懷孕", "艾滋", "精神病", "疫苗", "医疗", "醫療", "诊断", "診斷"],
  "sex life or orientation": ["性取向", "同性恋", "同性戀", "同居", "婚前", "通奸", "通姦", "性生活"],
  biometrics: ["生物识别", "生物識別", "指纹", "指紋", "人脸", "人臉", "面部识别", "虹膜", "声纹", "聲紋"],
  "family or relationships": ["家庭", "家属", "家屬", "亲属", "親屬", "子女", "父母", "配偶", "亲戚", "親戚", "婚姻", "离婚", "離婚", "家人"],
};

// Distinctive stems that are also looked for inside glued compounds. Only stems that
// do not occur inside ordinary words are listed ("mental" is not: "fundamental").
const groundCompounds: Record<Ground, string[]> = {
  "political opinion": ["politic", "dissident", "ideolog", "zhengzhi", "shangfang", "xinfang"],
  "speech or expression": ["socialmedia", "blogger", "meinungsfreiheit"],
  "religion or belief": ["religio", "church", "mosque", "synagog", "worship", "pilgrim", "kirche", "moschee", "gottesdienst", "iglesia", "mezquita", "zongjiao", "falungong", "wallfahrt"],
  "ethnic origin": ["ethnic", "ethnisch", "uyghur", "uighur", "tibetan", "staatsangehorig", "nationalit", "weiwuer", "zangzu", "migrationshintergrund"],
  "association or assembly": ["protest", "activis", "kundgebung", "versammlung", "manifestant", "demonstration", "manifestacion"],
  "trade-union membership": ["tradeunion", "labourunion", "laborunion", "unionmember", "gewerkschaft", "syndicalis", "sindicalis"],
  health: ["psychiatr", "disabilit", "pregnan", "vaccin", "krankheit", "gesundheit", "behinder", "schwanger", "impfung", "enfermedad", "discapacidad"],
  "sex life or orientation": ["sexual", "homosex", "transgender", "lgbt", "cohabit", "premarital"],
  biometrics: ["biometri", "fingerprint", "fingerabdruck", "facerecog", "facialrecog", "voiceprint"],
  "family or relationships": ["spouse", "sibling", "household", "marriage", "divorc", "guarantor", "familie", "verwandt", "ehepartner", "grandchild", "grandparent"],
};

/**
 * Legal phrases that contain a ground's word but do not name the ground. They are
 * removed before matching; add one here (never a single word) when an ordinary legal
 * term is refused, and say so in docs/policy-language.md.
 */
export const allowedPhrases: readonly string[] = [
  "bad faith", "good faith", "in good faith", "bonne foi", "mauvaise foi", "buena fe", "mala fe", "treu und glauben",
  "housing association", "residents association", "homeowners association", "tenants association", "bar association",
  "trade association", "professional association", "building society",
  "audit opinion", "legal opinion", "expert opinion", "court opinion", "opinion of the court", "qualified opinion",
  "adverse opinion", "unqualified opinion", "credit union", "european union", "customs union", "unionpay",
  "general assembly", "assembly line", "vehicle assembly",
  "public health inspection", "environmental health", "health and safety", "health certificate",
  "hygiene rating", "food hygiene rating", "hygiene score", "inspection score", "inspection rating", "energy rating",
  "third party", "hit and run", "data protection", "match fixing", 
  "evidence gathering", "information gathering", "data gathering", "intelligence gathering", "corporate veil",
  "bankruptcy petition", "winding up petition", "insolvency petition", "petition for bankruptcy", "household waste",
  "household goods",
];

// Words that say who the subject is (guardrail 7): in fields, expressions and keys.
const identityTerms = [
  "identifier", "identifiers", "identity", "identities", "identification", "name", "names",
  "fullname", "full name", "surname", "surnames", "forename", "forenames", "firstname", "first name", "lastname",
  "last name", "given name", "givenname", "nickname", "alias", "aliases", "maiden name", "nationalid", "national id",
  "passport", "passports", "ssn", "social security", "national insurance",   "date of birth", "dob", "birthdate", "birthday", "dateofbirth",
  "gender", "sex", "id card", "idcard", "id number", "idnumber", "identity card", "identity number", "personal number",
  "driver number", "licence number", "license number", "personal id", "person id", "citizen id", "subject id",
    "nom", "prenom", "nom de famille", "passeport", "carte d identite", "identite", "date de naissance",
  "vorname", "nachname", "familienname", "ausweis", "ausweisnummer", "personalausweis", "reisepass", "geburtsdatum",
  "apellido", "apellidos", "pasaporte", "dni", "cedula", "identidad", "fecha de nacimiento",
  "xingming", "mingzi", "shenfenzheng", "huzhao", "shenfen",
  "phone number", "mobile number", "telephone number", "email address", "ip address", "home address",
];
const cjkIdentityTerms = ["姓名", "名字", "身份证", "身份證", "护照", "護照", "证件号", "證件號", "身份"];

// Words that stand for another person (guardrail 2).
const otherPersonTerms = [
  "parent", "parents", "child", "children", "relative", "relatives", "family", "household", "spouse", "associates",
  "associate", "guarantor", "guarantors", "cosigner", "cosigners", "co signer", "co signers", "surety", "sureties",
  "sibling", "siblings", "kin", "friends",   "beneficiary", "beneficiaries", "dependant", "dependants", "dependent", "dependents", "heir", "heirs",
  "codefendant", "co defendant", "co accused", "accomplice", "accomplices", "neighbour", "neighbours", "neighbor",
  "neighbors", "roommate", "flatmate", "cohabitant", "next of kin", "partner of", "guarantee giver",
  "garant", "garants", "ayant droit", "ayants droit", "heritier", "voisin", "colocataire", "burge", "burgen",
  "mitschuldner", "angehorige", "angehoriger", "erben", "nachbar", "mitbewohner", "avalista", "avalistas", "fiador",
  "fiadores", "herederos", "heredero", "vecino", "familiares", "danbaoren", "baozhengren", "qinshu", "jiashu", "linju",
  "co borrower", "coborrower", "co debtor", "codebtor", "joint debtor", "joint account holder", "related party",
  "same address", "same household", "cohabitants", "housemates", "overseas contacts", "contacts abroad",
];
const cjkOtherPersonTerms = ["担保人", "擔保人", "保证人", "保證人", "亲属", "親屬", "家属", "家屬", "配偶", "子女", "父母", "邻居", "鄰居", "连坐", "連坐", "株连", "株連"];

// Status that would make treatment depend on who someone is (guardrail 7).
const statusTerms = [
  "rank", "ranks", "ranking", "military rank", "official", "officials", "public official", "government official",
  "officeholder", "office holder", "public office", "holds office", "cadre", "cadres", "party member",
  "party membership", "party card", "party affiliation", "party official", "party cadre", "communist party", "vip",
  "vips", "privileged", "privilege", "privileges", "elite", "dignitary", "dignitaries", "celebrity", "celebrities",
  "diplomat", "diplomats", "diplomatic", "minister", "ministers", "legislator", "legislators", "member of parliament",
  "senator", "civil servant", "civil servants", "public servant", "state employee", "government employee",
  "security clearance", "noble", "nobility", "aristocrat", "princeling", "seniority", "high net worth", "hnwi",
  "connected person", "politically exposed", "pep",
  "beamter", "beamte", "beamtin", "rang", "dienstgrad", "amtstrager", "funktionar", "parteimitglied",
  "parteimitgliedschaft", "privilegiert", "prominent", "abgeordneter", "fonctionnaire", "fonctionnaires",
  "membre du parti", "privilegie", "privilegies", "dignitaire", "haut fonctionnaire", "elu", "elus", "funcionario",
  "funcionarios", "rango", "miembro del partido", "privilegiado", "privilegiados", "aforado", "aforados", "diputado",
  "guanyuan", "ganbu", "dangyuan", "jibie", "zhiwu", "zhiji", "lingdao", "tequan", "guibin", "gongwuyuan", "gaogan",
  "guanzhi", "rendadaibiao",
  "officer", "officers", "police officer", "military officer", "influencer", "npc deputy", "cppcc", "special treatment",
  "special status", "green channel", "lvse tongdao", "vip channel",
  "pay grade", "civil service grade", "military grade", "premium member", "gold member", "platinum member",
  "premium customer", "gongchandang",
];
const cjkStatusTerms = ["共产党", "共產黨", "官员", "官員", "干部", "幹部", "党员", "黨員", "级别", "級別", "职务", "職務", "职级", "領導", "领导", "特权", "特權", "贵宾", "貴賓", "公务员", "公務員", "人大代表", "政协委员", "高干"];

// Words that bring a score, tier or rating back as a record (guardrail 3)...
const scoreTerms = [
  "score", "scores", "scoring", "scored", "tier", "tiers", "rating", "ratings", "rated", "downgrade", "downgraded",
  "downgrading", "demote", "demoted", "demotion", "credit score", "credit rating", "trust score", "creditworthiness",
  "blacklist", "blacklisted", "blacklisting", "greylist", "redlist", "red list", "black list", "trust level",
  "credit level", "credit grade", "social credit", "punktzahl", "punktestand", "bonitat", "notation", "puntuacion",
  "calificacion crediticia", "pingfen", "fenshu", "xinyongfen", "dengji", "pingji", "jiangji", "heimingdan",
  "untrustworthy", "untrustworthiness", "trustworthiness", "shixin", "listed as untrustworthy", "credit points",
  "trust points", "social credit points",
];
const cjkScoreTerms = ["失信", "评分", "評分", "分数", "分數", "信用分", "等级", "等級", "评级", "評級", "降级", "降級", "黑名单", "黑名單"];

// ...or a name-screening result (guardrail 8).
const screeningTerms = [
  "screening", "screenings", "screened", "watchlist", "watchlists", "watch list", "similarity", "similar name",
  "fuzzy", "name match", "name matches", "name matching", "possible match", "potential match", "match hit",
  "name hit", "watchlist hit", "screening hit", "sanctions hit", "name check", "namecheck", "soundex", "phonetic",
  "sounds like", "lookalike", "abgleich", "namensabgleich", "ahnlichkeit", "similitude", "coincidencia",
  "similitud", "mohu", "xiangsi", "jinsi", "pipei", "shaicha", "bidui", "mingzhong",
  "suspect match", "suspected match", "match result", "matched name", "name similarity", "alias match",
  "check hit", "list hit", "alert hit", "match found", "name matched",
];
const cjkScreeningTerms = ["筛查", "篩查", "比对", "比對", "命中", "模糊", "相似", "近似", "匹配"];

// Keys that would widen a rule beyond its subject (G2).
const cascadeTerms = [
  "applies to", "apply to", "applies", "extends to", "extend to", "extends", "also applies to", "also", "co subjects",
  "joint", "joint and several", "target", "targets", "propagate", "propagate to", "propagates", "propagation",
  "spill over", "spillover", "include relatives", "for relatives", "linked subjects", "related subjects", "cascade",
  "cascades", "cascading", "inherit", "inherits", "inherited", "collective", "contagion", "guilt by association",
  "sippenhaft", "sippenhaftung", "mithaftung", "gilt fur", "erstreckt", "solidaire", "solidairement", "solidaria",
  "solidario", "se extiende", "aplica a", "s applique a", "lianzuo", "zhulian",
  "spread", "spreads", "network", "reach", "reaches", "scope",
];

// Keys that single subjects out (G7).
const exemptionTerms = [
  "exempt", "exempted", "exempts", "exemption", "exemptions", "except", "except for", "exception", "exceptions",
  "excluding", "exclude", "excluded", "exclusion", "exclusions", "override", "overrides", "overridden", "whitelist",
  "whitelisted", "allowlist", "immune", "immunity", "waive", "waived", "waiver", "waivers", "bypass", "bypasses",
  "unless", "pardon", "pardoned", "carve out", "carveout", "skip", "skips", "spare", "spared", "ids", "subjects", "only for",
  "ausnahme", "ausnahmen", "befreit", "befreiung", "freistellung", "ausgenommen", "exonere", "exoneration", "exempte",
  "derogation", "sauf", "exencion", "exento", "exentos", "excepcion", "excepto", "dispensa", "huomian", "mianchu",
  "liwai", "baimingdan", "chuwai",
];
const cjkExemptionTerms = ["豁免", "免除", "例外", "除外", "白名单", "白名單"];

// Keys that would let a name-similarity match decide (G8).
const fuzzyKeyTerms = [
  "fuzzy", "similar", "similarity", "name match", "auto deny", "autodeny", "auto block", "autoblock", "soundex",
  "phonetic", "levenshtein", "approximate", "sounds like", "ahnlichkeit", "unscharf", "similitude", "approximatif",
  "similitud", "difuso", "aproximado", "mohu", "xiangsi", "jinsi",
];

// Values that would make a screening hit refuse someone (G8).
const refusingTerms = [
  "deny", "denied", "block", "blocked", "refuse", "refused", "restrict", "restricted", "reject", "rejected", "ban",
  "banned", "prohibit", "prohibited", "bar", "barred", "stop", "auto deny", "verweigern", "verweigert", "sperren",
  "gesperrt", "ablehnen", "abgelehnt", "refuser", "bloquer", "interdire", "rejeter", "denegar", "bloquear", "rechazar",
  "prohibir", "jujue", "lanjie", "jinzhi",
];
const cjkRefusingTerms = ["拒绝", "拒絕", "拦截", "攔截", "禁止", "阻止"];

/** Splits "court.judgment-default", "socialMedia_posts", "Gläubiger" into lower-case words without accents. */
export function words(name: string): string[] {
  return name
    .normalize("NFKC")
    .replace(/(\p{Ll})(\p{Lu})/gu, "$1 $2")
    .replace(/(\p{Lu})(\p{Lu}\p{Ll})/gu, "$1 $2")
    .replace(/ß/g, "ss")
    .replace(/æ/gi, "ae")
    .replace(/œ/gi, "oe")
    .normalize("NFKD")
    .replace(/\p{M}/gu, "")
    .toLowerCase()
    .replace(/([a-z])([0-9])/g, "$1 $2")
    .replace(/([0-9])([a-z])/g, "$1 $2")
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 0);
}

const suffixes = ["s", "es", "ing", "ed", "er", "ers", "ist", "ists", "ism", "n", "en", "e", "a", "o", "as", "os"];

/**
 * The word with one inflection suffix taken off, for each suffix it ends in. Only
 * stems of four letters or more are kept, so "sons" is not read as "son" by accident
 * (short words are listed with their inflections instead).
 */
export function stems(word: string): string[] {
  const out: string[] = [];
  for (const s of suffixes) {
    if (!word.endsWith(s)) continue;
    const stem = word.slice(0, -s.length);
    if (stem.length < 4) continue;
    out.push(stem);
    // worshipping → worshipp → worship
    if ((s === "ing" || s === "ed" || s === "er" || s === "ers") && stem.length > 4 && stem.at(-1) === stem.at(-2)) out.push(stem.slice(0, -1));
  }
  if (word.endsWith("ies") && word.length > 5) out.push(`${word.slice(0, -3)}y`);
  return out;
}

export interface TermHit<T> {
  readonly value: T;
  readonly term: string;
}

/** A compiled word list: single words, phrases, glued forms, compound stems and Chinese terms. */
class Lexicon<T> {
  private readonly single = new Map<string, T>();
  private readonly phrases = new Map<string, T>();
  private readonly compounds: [string, T][] = [];
  private readonly cjk: [string, T][] = [];

  add(value: T, terms: readonly string[], opts: { compounds?: readonly string[]; cjk?: readonly string[] } = {}): this {
    for (const t of terms) {
      const ws = words(t);
      if (ws.length === 1) this.single.set(ws[0] as string, value);
      else if (ws.length > 1) {
        this.phrases.set(ws.join(" "), value);
        // glued: "tradeunion", "socialmedia"
        if (ws.join("").length >= 6) this.single.set(ws.join(""), value);
      }
    }
    for (const c of opts.compounds ?? []) this.compounds.push([c, value]);
    for (const c of opts.cjk ?? []) this.cjk.push([c, value]);
    return this;
  }

  /** The first term found in `text`, or undefined. */
  find(text: string, skip?: (v: T, term: string) => boolean): TermHit<T> | undefined {
    let term = "";
    const ok = (v: T | undefined): v is T => v !== undefined && !(skip?.(v, term) ?? false);
    const norm = text.normalize("NFKC");
    for (const [t, v] of this.cjk) if (norm.includes(t) && ((term = t), ok(v))) return { value: v, term: t };
    const ws = words(text);
    const check = (v: T | undefined, t: string): v is T => ((term = t), ok(v));
    const hit = this.findIn(ws, check);
    if (hit) return hit;
    // German written without umlauts ("angehoerige", "fuer") is read as with them.
    const plain = ws.map((w) => w.replace(/ae/g, "a").replace(/oe/g, "o").replace(/ue/g, "u"));
    return plain.some((w, i) => w !== ws[i]) ? this.findIn(plain, check) : undefined;
  }

  private findIn(ws: readonly string[], ok: (v: T | undefined, term: string) => v is T): TermHit<T> | undefined {
    const used = allowedMask(ws);
    const free = (i: number): boolean => i < ws.length && !used[i];
    for (let i = 0; i < ws.length; i++) {
      if (!free(i)) continue;
      const w = ws[i] as string;
      for (let n = 4; n >= 2; n--) {
        if (![...Array(n).keys()].every((k) => free(i + k))) continue;
        const parts = ws.slice(i, i + n);
        const phrase = parts.join(" ");
        const pv = this.phrases.get(phrase);
        if (ok(pv, phrase)) return { value: pv, term: phrase };
        // split words glued back: "reli gion", "fa lun gong"
        const glued = parts.join("");
        const gv = glued.length >= 6 ? this.single.get(glued) : undefined;
        if (ok(gv, glued)) return { value: gv, term: glued };
      }
      const sv = this.single.get(w);
      if (ok(sv, w)) return { value: sv, term: w };
      for (const s of stems(w)) {
        const v = this.single.get(s);
        if (ok(v, s)) return { value: v, term: s };
      }
    }
    // compounds, inside each word and inside everything glued together ("c.h.u.r.c.h")
    const kept = ws.filter((_, i) => !used[i]);
    for (const c of kept) {
      for (const [stem, cv] of this.compounds) if (c.length > stem.length && c.includes(stem) && ok(cv, stem)) return { value: cv, term: stem };
    }
    // A word spelt out letter by letter ("c.h.u.r.c.h", "g-a-y") is read glued
    // together; longer words are not, or "sexual-harassment" would become one word.
    if (kept.length > 1 && kept.every((w) => w.length <= 3)) {
      const all = kept.join("");
      const v = this.single.get(all);
      if (ok(v, all)) return { value: v, term: all };
      for (const [stem, cv] of this.compounds) if (all.includes(stem) && ok(cv, stem)) return { value: cv, term: stem };
    }
    return undefined;
  }
}

const allowedPhraseWords = allowedPhrases.map((p) => words(p));

/** Marks the words that belong to an allowed legal phrase. */
function allowedMask(ws: readonly string[]): boolean[] {
  const used = ws.map(() => false);
  for (const p of allowedPhraseWords) {
    for (let i = 0; i + p.length <= ws.length; i++) {
      if (p.every((w, k) => ws[i + k] === w)) for (let k = 0; k < p.length; k++) used[i + k] = true;
    }
  }
  return used;
}

const groundLexicon = new Lexicon<Ground>();
for (const g of Object.keys(groundTerms) as Ground[]) {
  groundLexicon.add(g, groundTerms[g], { compounds: groundCompounds[g], cjk: cjkGroundTerms[g] });
}

// Health words that describe premises as well as people. Only these are let through
// on an organisation's record: "hiv-status" or "pregnancy" on a restaurant's record is
// still about a person.
const premisesHealthTerms = new Set([
  "health", "medical", "illness", "illnesses", "disease", "diseases", "infection", "infected", "patient", "patients",
  "covid", "sick", "sickness", "sante", "gesundheit", "salud", "jiankang", "symptom", "symptoms",
]);

export interface GroundHit {
  readonly ground: Ground;
  readonly term: string;
}

/**
 * Finds the first prohibited ground named by a policy name or literal, if any. For a
 * record about organisations only, health words are not a ground: a restaurant's
 * hygiene inspection is about premises, not about a person's health.
 */
export function prohibitedGround(name: string, opts: { organisation?: boolean } = {}): GroundHit | undefined {
  const hit = groundLexicon.find(name, opts.organisation ? (g, term) => g === "health" && premisesHealthTerms.has(term) : undefined);
  return hit ? { ground: hit.value, term: hit.term } : undefined;
}

// Single words too ambiguous for names ("temple-bar", "minority-shareholder") but not
// for a value a rule compares with: a venue that is 'temple' is a place of worship.
const valueLexicon = new Lexicon<Ground>()
  .add("religion or belief", ["temple", "temples", "shrine", "shrines", "pagoda", "pagodas", "chapel", "chapels"])
  .add("trade-union membership", ["union", "unions"])
  .add("ethnic origin", ["minority", "minorities"]);

/** Like prohibitedGround, for a value a rule compares with or an enum declares. */
export function prohibitedGroundInValue(value: string, opts: { organisation?: boolean } = {}): GroundHit | undefined {
  const hit = prohibitedGround(value, opts);
  if (hit) return hit;
  const v = valueLexicon.find(value);
  return v ? { ground: v.value, term: v.term } : undefined;
}

export type Smuggle = "identity" | "other-person" | "status" | "score" | "screening" | "cascade" | "exemption" | "fuzzy";

const identityLexicon = new Lexicon<"identity">().add("identity", identityTerms, { cjk: cjkIdentityTerms });
const otherPersonLexicon = new Lexicon<"other-person">().add("other-person", otherPersonTerms, {
  compounds: ["guarantor", "cosigner", "codefendant"],
  cjk: cjkOtherPersonTerms,
});
const statusLexicon = new Lexicon<"status">().add("status", statusTerms, { compounds: ["privileg", "parteimitglied", "parteizugehorig", "parteibuch"], cjk: cjkStatusTerms });
const launderLexicon = new Lexicon<"score" | "screening">()
  .add("screening", screeningTerms, { compounds: ["watchlist", "screening", "similarit"], cjk: cjkScreeningTerms })
  .add("score", scoreTerms, { compounds: ["blacklist", "creditscore", "downgrad"], cjk: cjkScoreTerms });
const cascadeLexicon = new Lexicon<"cascade">().add("cascade", cascadeTerms, { cjk: ["连坐", "連坐", "株连", "株連"] });
const exemptionLexicon = new Lexicon<"exemption">().add("exemption", exemptionTerms, { compounds: ["exempt", "whitelist", "allowlist"], cjk: cjkExemptionTerms });
const fuzzyLexicon = new Lexicon<"fuzzy">().add("fuzzy", fuzzyKeyTerms, { compounds: ["fuzzy", "similar", "soundex"], cjk: ["模糊", "相似", "近似"] });
const refusingLexicon = new Lexicon<"refusing">().add("refusing", refusingTerms, { cjk: cjkRefusingTerms });

// Words that say who someone is only when they are the whole name: "persons-injured"
// and "other-charges" are ordinary fields, "person" and "others" are not.
const identityWholeNames = new Set(["subject", "subjects", "person", "persons", "who", "whom", "individual", "individuals", "citizen", "citizens", "holder", "holders", "subject id", "person id"]);
const otherPersonWholeNames = new Set(["other", "others", "contacts", "employer", "employees", "members", "third parties"]);

const someoneElse = new Set(["other", "others", "employer", "employers", "employee", "employees", "member", "members", "contact", "contacts", "partner", "partners", "owner", "keeper", "landlord", "witness", "victim", "creditor", "co", "third"]);

const idWords = new Set(["id", "ids", "no", "nr", "num", "number", "numbers", "card"]);

/**
 * Whether a name says who a person is: an identity word, or "id"/"number" standing
 * alone or next to a word for a person ("id-number", "person-id"). "case-id" and
 * "ticket-number" name a case or a ticket, not a person, and pass.
 */
export function identityTerm(name: string): string | undefined {
  const hit = identityLexicon.find(name);
  if (hit) return hit.term;
  const ws = words(name);
  if (identityWholeNames.has(ws.join(" "))) return ws.join(" ");
  if (ws.length > 0 && (ws[0] === "id" || ws[0] === "ids") && (ws.length === 1 || idWords.has(ws[1] as string))) return ws.join(" ");
  return undefined;
}

/** Whether a name stands for another person (guardrail 2). */
export function otherPersonTerm(name: string, opts: { value?: boolean } = {}): string | undefined {
  const hit = otherPersonLexicon.find(name);
  if (hit) return hit.term;
  const ws = words(name);
  const whole = ws.join(" ");
  // As a value ("other", "members"), these words name a kind of thing, not a person.
  if (!opts.value && otherPersonWholeNames.has(whole)) return whole;
  // "employer-id", "partner-name": a word for someone else next to an identifier or a name.
  const someone = ws.find((w) => someoneElse.has(w));
  if (someone && ws.some((w) => idWords.has(w) || w === "name" || w === "names")) return someone;
  const g = prohibitedGround(name);
  return g?.ground === "family or relationships" ? g.term : undefined;
}

/** Whether a name or value carries status: rank, office, party membership, VIP, privilege (guardrail 7). */
export function statusTerm(name: string): string | undefined {
  return statusLexicon.find(name)?.term;
}

/** Whether a name would bring back a score or tier (G3) or a name-screening result (G8) as a record. */
export function launderingTerm(name: string): { guardrail: "G3" | "G8"; term: string } | undefined {
  const hit = launderLexicon.find(name);
  if (!hit) return undefined;
  return { guardrail: hit.value === "score" ? "G3" : "G8", term: hit.term };
}

/** Classifies a key the language does not define. */
export function smuggledKey(key: string): { kind: Smuggle; term: string } | undefined {
  // A key is behaviour, not a name, so "employees-of" names other people as surely as "employees".
  const person = words(key).find((w) => otherPersonWholeNames.has(w));
  if (person) return { kind: "other-person", term: person };
  const other = otherPersonTerm(key);
  if (other) return { kind: "other-person", term: other };
  const cascade = cascadeLexicon.find(key);
  if (cascade) return { kind: "cascade", term: cascade.term };
  const fuzzy = fuzzyLexicon.find(key);
  if (fuzzy) return { kind: "fuzzy", term: fuzzy.term };
  const ex = exemptionLexicon.find(key);
  if (ex) return { kind: "exemption", term: ex.term };
  const st = statusTerm(key);
  if (st) return { kind: "status", term: st };
  const id = identityTerm(key);
  if (id) return { kind: "identity", term: id };
  const l = launderingTerm(key);
  if (l) return { kind: l.guardrail === "G3" ? "score" : "screening", term: l.term };
  return undefined;
}

/** Whether a setting's value would make a screening hit refuse someone. */
export function refusingValue(value: string): string | undefined {
  return refusingLexicon.find(value)?.term;
}

/** Whether a key names name-similarity matching ("match" alone only with a value that says so). */
export function fuzzyTerm(text: string): string | undefined {
  return fuzzyLexicon.find(text)?.term;
}

// Days that stand for political events (guardrail 1) whatever record they are put on:
// a rule about "records dated 4 June" is a rule about an anniversary, not conduct.
const eventDays = [/(^|\D)0?6[-./]0?4(\D|$)/, /(^|\D)0?4[-./]0?6[-./](19|20)\d\d/, /1989[-./]?0?6[-./]?0?4/, /(^|\D)0604(\D|$)/, /june\s*4(th)?\b|\b4(th)?\s*june/i, /六月四日|6月4日|五月三十五|六四/];

/** Whether a literal names the day of a political event. */
export function eventDay(value: string): string | undefined {
  for (const re of eventDays) {
    const m = re.exec(value);
    if (m) return m[0].replace(/^\D|\D$/g, "");
  }
  return undefined;
}
