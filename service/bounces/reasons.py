"""The bounce reasons: their names, which are permanent, and the wording that gives each away.

A reason says *why* a message came back, and only the reason decides whether the address is
dead. Only four reasons are ``hard`` (permanent: suppress the address at once); every other
failure is ``soft``, whatever its SMTP code says, because "5.2.2 mailbox full" or "550 blocked
as spam" will pass. Four more are not failures at all.

===============  =====================================================================  =========
reason           meaning                                                                kind
===============  =====================================================================  =========
userunknown      the mailbox does not exist at the destination                          hard
hostunknown      the recipient's domain does not exist or has no mail host              hard
hasmoved         the address moved elsewhere ("551 User not local; please try <...>")   hard
notaccept        the domain takes no mail at all (null MX, RFC 7505; 521/556)           hard
mailboxfull      the mailbox is over quota                                              soft
filtered         the recipient's own filter or settings refused the message             soft
blocked          our sending host or IP is refused (blocklist, reputation, rDNS)        soft
spamdetected     the content was judged to be spam                                      soft
policyviolation  refused under the receiver's local policy                              soft
expired          the queue lifetime ran out before the message could be delivered       soft
suspend          the mailbox exists but is disabled, suspended or inactive              soft
mesgtoobig       the message is larger than the receiver accepts                        soft
authfailure      SPF, DKIM or DMARC checks on our mail failed                           soft
networkerror     connection refused, timed out or lost; DNS trouble                     soft
systemerror      a fault in the receiving system, or a mail loop                        soft
systemfull       the receiving system is out of disk or resources                       soft
contenterror     the content was refused: virus, attachment, malformed MIME             soft
norelaying       the server refused to relay for the recipient's domain                 soft
ratelimited      too many messages: a sending rate or volume limit                      soft
securityerror    TLS or SMTP authentication required or failed                          soft
toomanyconn      too many connections or sessions                                       soft
syntaxerror      an SMTP protocol or command error                                      soft
rejected         our envelope sender (MAIL FROM) was refused                            soft
undefined        a bounce whose reason cannot be told (with kind ignore: not a bounce)  soft
feedback         a complaint: an ARF feedback report (RFC 5965)                         complaint
vacation         an auto-reply or out-of-office notice                                  ignore
delivered        a delivery report that says the message arrived                        ignore
delayed          a warning that delivery is still being retried                         ignore
===============  =====================================================================  =========

A failure with a temporary status (4.x.x, or a bare 4xx reply) is never hard, even when its
text names an unknown user: a server that says "450 user unknown" may know better tomorrow.

``TEXT_PATTERNS`` is the table of reason → wording, searched in its order; the first reason
with a matching pattern wins. The order puts specific, passing reasons before the permanent
ones (a text that mentions both spam and an unknown user is treated as spam, a soft bounce,
because suppressing a live reader costs more than one more bounce) and the vague catch-alls
last; a reason may have a second, vaguer row near the end ("blocked" alone, after "banned
attachment" has had its chance to be a content error). Patterns are written in lower case and
matched against lowered text whose whitespace has been collapsed to single spaces, so a
pattern's space also matches a folded line.
"""

from __future__ import annotations

from service.bounces.reasons_match import PatternTable

VOCABULARY: dict[str, str] = {
    "userunknown": "the mailbox does not exist",
    "hostunknown": "the domain does not exist or has no mail host",
    "hasmoved": "the address has moved",
    "notaccept": "the domain accepts no mail",
    "mailboxfull": "the mailbox is full",
    "filtered": "refused by the recipient's filter or settings",
    "blocked": "our sending host is blocked",
    "spamdetected": "judged to be spam",
    "policyviolation": "refused by local policy",
    "expired": "the queue lifetime ran out",
    "suspend": "the mailbox is disabled or suspended",
    "mesgtoobig": "the message is too big",
    "authfailure": "SPF, DKIM or DMARC failed",
    "networkerror": "a network or DNS problem",
    "systemerror": "a fault in the receiving system",
    "systemfull": "the receiving system is full",
    "contenterror": "the content was refused",
    "norelaying": "relaying refused",
    "ratelimited": "a rate or volume limit",
    "securityerror": "TLS or authentication required or failed",
    "toomanyconn": "too many connections",
    "syntaxerror": "an SMTP protocol error",
    "rejected": "our envelope sender was refused",
    "undefined": "the reason cannot be told",
    "feedback": "a complaint (ARF feedback report)",
    "vacation": "an auto-reply",
    "delivered": "delivered",
    "delayed": "delivery delayed; still being retried",
}

HARD_REASONS = frozenset({"userunknown", "hostunknown", "hasmoved", "notaccept"})
# Reports that are not failures: nothing is wrong with the address.
IGNORED_REASONS = frozenset({"vacation", "delivered", "delayed"})
# Reasons that describe a passing cause; when the queue gave up on such a failure the message
# expired, and that (not the last connection error) is the reason worth recording.
TRANSIENT_CAUSES = frozenset(
    {"networkerror", "systemerror", "toomanyconn", "securityerror", "syntaxerror", "undefined"}
)

_ADDRESSEE = r"(?:user|mailbox|recipient|address|account|addressee|e-?mail account|destination)"

TEXT_PATTERNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ratelimited", (
        r"rate[ -]?limit", r"too many (?:messages|mails|e-?mails)\b",
        r"sending (?:quota|limit|rate)",
        r"(?:message|mail|connection) rate (?:limit|exceeded)", r"receiving mail at a rate",
        r"unusual rate", r"daily (?:sending |message )?(?:quota|limit)", r"throttl",
        r"(?:unexpected|unusual|high) volume",
        r"发送频率", r"频率过高",
    )),
    ("mailboxfull", (
        r"mail ?box (?:is |was )?(?:full|over ?full|overflow)",
        r"mail ?box (?:size|storage) (?:limit|quota)",
        r"over (?:the )?(?:disk |storage |mailbox )?quota",
        r"quota (?:exceeded|exceed|is full|full|violation)",
        r"exceed(?:s|ed)? (?:the |his |her |their |its )?(?:disk |storage |mailbox )?(?:quota|storage allocation)",
        r"(?:disk|storage|mailbox) quota", r"(?:inbox|account) (?:is )?(?:full|over quota)",
        r"full mailbox", r"(?:user|recipient)(?:'s)? (?:mailbox|inbox|disk) is full",
        r"postfach (?:des empfängers )?(?:ist )?(?:voll|überfüllt)",
        r"boîte (?:aux lettres |mail )?(?:pleine|saturée)",
        r"空间不足", r"邮箱(?:已)?满", r"容量(?:不足|已满|超过|超出)",
        r"メールボックス(?:の容量)?が(?:一杯|いっぱい|満杯)", r"容量(?:が|を)?(?:超過|オーバー)",
    )),
    ("mesgtoobig", (
        r"message (?:size |length )?(?:exceeds|is too (?:large|big)|too (?:large|big))",
        r"(?:size|length) of (?:the )?message exceeds", r"message (?:size|length) exceeds",
        r"exceeds? (?:the )?(?:fixed |maximum |max |allowed )*(?:message )?size",
        r"(?:message|mail) size limit", r"(?:e-?mail|mail) (?:is )?(?:too large|too big|oversized)",
        r"邮件(?:大小|尺寸|体积)(?:超过|超出|过大)", r"サイズ(?:が|を)?(?:超過|超え|オーバー)",
    )),
    ("expired", (
        r"retry time(?:out)? (?:exceeded|not reached for any host after a long failure period)",
        r"(?:could not|couldn't|unable to|was not) (?:be )?deliver(?:ed)? (?:for|within|in) (?:the (?:last|past) )?\d+ ?(?:days?|hours?|minutes?)",
        r"message (?:has )?expired",
        r"(?:delivery|message) (?:time|lifetime) (?:has )?(?:expired|exceeded)",
        r"queue (?:life ?time|period|timeout)", r"(?:too long|maximum time) in (?:the )?queue",
        r"not (?:been )?(?:delivered|reachable) within the allowed",
        r"will be deleted from (?:the )?queue",
        r"envelope expired", r"delivery attempts? (?:expired|timed out)", r"投递超时",
        r"have been failing for a long time",
    )),
    ("rejected", (
        r"sender (?:address )?(?:rejected|refused|denied|not (?:allowed|permitted))",
        r"sender (?:address )?(?:verify|verification) failed",
        r"sender (?:domain|address) (?:must exist|does not exist|not found|unknown|is invalid)",
        r"(?:domain of|from) sender address .{0,60}(?:does not exist|not found|not resolv)",
        r"mail from .{0,40}(?:rejected|refused)", r"(?:invalid|unknown|bad) (?:envelope )?sender",
    )),
    ("norelaying", (
        r"relay(?:ing)? (?:access )?(?:denied|not (?:permitted|allowed)|prohibited|refused)",
        r"not (?:a )?permitted (?:to )?relay", r"unable to relay", r"(?:we|i) do not relay",
        r"in my list of allowed rcpthosts", r"no relaying",
    )),
    ("authfailure", (
        r"\bdmarc\b", r"\bspf\b.{0,30}(?:fail|not pass|validation|check)",
        r"(?:fail(?:ed|s)?|not pass(?:ed)?) .{0,20}\b(?:spf|dkim|dmarc)\b",
        r"\bdkim\b.{0,30}(?:fail|invalid|missing|required)",
        r"unauthenticated (?:e-?mail|mail|message)",
        r"multiple authentication checks failed",
    )),
    ("spamdetected", (
        r"\bspam\b", r"\bspammy\b", r"spamassassin", r"\bjunk (?:mail|e-?mail)\b",
        r"unsolicited (?:bulk |commercial )?(?:mail|e-?mail|message)", r"\bdt:spm\b",
        r"垃圾邮件", r"迷惑メール", r"スパム",
    )),
    ("hasmoved", (
        r"user not local; please try",
        r"(?:user|recipient|mailbox|address|account) has (?:moved|changed)",
        r"(?:has|have) moved to (?:a )?new (?:e-?mail )?address", r"mailbox owner has changed",
    )),
    ("suspend", (
        rf"{_ADDRESSEE} (?:has been |is |was )?(?:temporarily )?(?:disabled|suspended|deactivated|frozen|locked|inactive|not active)",
        rf"(?:disabled|suspended|deactivated|inactive|frozen|locked|expired) {_ADDRESSEE}",
        r"due to (?:extended )?inactivity", r"account (?:has )?expired",
        r"tried to reach is (?:disabled|inactive|suspended|deactivated)",
        r"(?:邮箱|账户|帐户|用户)(?:已)?(?:被)?(?:冻结|停用|锁定|禁用)", r"利用停止",
    )),
    ("notaccept", (
        r"null ?mx", r"does not accept (?:any )?(?:e-?)?mail(?! from)",
        r"(?:accepts|accepting) no (?:e-?)?mail",
        r"not accepting (?:any )?(?:e-?)?mail(?! from)", r"no mail (?:is )?accepted",
    )),
    ("userunknown", (
        r"\buser unknown\b",
        r"unknown (?:user|recipient|mailbox|local[- ]part|address(?:ee)?|account)",
        r"no such (?:user|mailbox|recipient|address|account|person|local user)",
        rf"{_ADDRESSEE} (?:name )?(?:does not|doesn't|did not|do not) exist",
        rf"{_ADDRESSEE} (?:address )?(?:was )?not found", r"recipient ?not ?found",
        r"recip(?:ient)?notfound",
        r"(?:invalid|bad|illegal) (?:recipient|mailbox|user|address|alias|destination mailbox)",
        r"unknown or illegal alias",
        r"not listed in (?:the )?(?:domino |public |global )?(?:directory|address book)",
        r"no mailbox here by that name", r"tried to reach (?:does not|doesn't) exist",
        r"(?:user|mailbox|recipient|account) (?:is )?(?:unknown|invalid)",
        r"(?:is|was) not a valid (?:mailbox|recipient|user|address)", r"undeliverable address",
        r"(?:does not|doesn't) have an? .{1,60}account",
        r"address (?:couldn't|could not|cannot|can't) be found",
        r"wasn't found at", r"recipient address rejected: access denied",
        r"address (?:is )?no longer (?:valid|in use|active)",
        r"收件人(?:地址)?(?:不存在|无效|错误|有误)", r"(?:用户|帐户|账户|账号|邮箱|地址)(?:名)?不存在",
        r"无效(?:的)?(?:收件人|用户|地址|邮箱)", r"アドレスが(?:見つかりません|存在しません|見つからない)",
        r"(?:ユーザー?|宛先|アカウント)(?:は|が)?(?:存在しません|見つかりません|不明)",
        r"(?:empfänger|benutzer|nutzer|adresse)(?:adresse)? (?:ist )?(?:unbekannt|existiert nicht|nicht gefunden)",
        r"unbekannter? (?:empfänger|benutzer)", r"(?:utilisateur|destinataire|adresse) inconnu",
    )),
    ("hostunknown", (
        r"host (?:or domain name )?not found",
        r"(?:domain|host) (?:name )?(?:not found|does not exist|doesn't exist|unknown)",
        r"unknown (?:host|domain)", r"no such (?:domain|host)", r"name service error",
        r"unrouteable (?:address|mail domain)", r"\bnxdomain\b",
        r"(?:domain|host) (?:could not|cannot|can't) be (?:found|resolved)",
        r"域名不存在", r"ドメインが(?:存在しません|見つかりません)",
        r"couldn't find any host (?:named|by that name)", r"couldn't find a mail exchanger",
        r"mx records point to non-existent hosts",
    )),
    ("filtered", (
        r"\bfiltered\b", r"rejected by (?:the )?(?:recipient|user)\b",
        r"(?:recipient|user) (?:has )?(?:blocked|rejected|refused) (?:you|your|this sender|the sender|mail|messages)",
        r"not authori[sz]ed to send (?:mail )?to (?:this|the) (?:recipient|user|address|group|list)",
        r"accepts? (?:mail|messages) only from", r"拒收", r"受信拒否",
    )),
    ("blocked", (
        r"blocked using", r"block ?list(?:ed)?", r"black ?list(?:ed)?", r"\bdnsbl\b",
        r"\b(?:rbl|dnsrbl)\b",
        r"listed (?:at|in|on|by) ",
        r"(?:client|sending|your|the) (?:host|ip|server|mta)(?: address)? .{0,60}(?:blocked|rejected|refused|denied|banned)",
        r"(?:poor|bad|low) (?:ip |sender |domain )?reputation", r"reputation", r"greylist",
        r"reverse dns|ptr record|\brdns\b", r"黑名单", r"ブラックリスト",
    )),
    ("toomanyconn", (
        r"too many (?:open )?(?:connections|concurrent|simultaneous|sessions|smtp sessions)",
        r"connection (?:limit|count) (?:exceeded|reached)",
        r"max(?:imum)? (?:number of )?connections",
    )),
    ("contenterror", (
        r"virus", r"malware", r"\binfected\b",
        r"(?:banned|forbidden|prohibited|dangerous|disallowed) (?:attachment|file|content|extension)",
        r"attachment", r"content (?:rejected|refused|not allowed|violates)",
        r"(?:header|mime) .{0,20}(?:malformed|invalid|syntax|too long)",
        r"line too long", r"not (?:rfc|standards?)[- ]?compliant", r"rfc ?(?:2822|5322|822) ",
    )),
    ("securityerror", (
        r"\btls\b", r"starttls", r"certificate", r"encryption (?:is )?(?:required|needed)",
        r"authentication required", r"must authenticate",
    )),
    ("policyviolation", (
        r"\bpolic(?:y|ies)\b", r"violat", r"prohibited", r"not permitted",
        r"administrative prohibition",
    )),
    ("systemfull", (
        r"insufficient system (?:storage|resources)",
        r"(?:disk|file ?system|spool|queue) (?:is )?full",
        r"out of (?:disk|storage) space", r"no space left", r"mail system full",
    )),
    ("systemerror", (
        r"internal (?:server )?error", r"system error", r"server error", r"local error",
        r"temporary (?:local )?(?:problem|failure|error)", r"mail (?:forwarding )?loop",
        r"loops? back to myself",
        r"loop detected", r"too many hops", r"configuration error",
        r"service (?:is )?(?:temporarily )?(?:unavailable|not available)",
    )),
    ("networkerror", (
        r"connection (?:timed out|timeout|refused|reset|lost|closed|dropped|failed)",
        r"timed? ?out",
        r"network (?:is )?unreachable", r"no route to host",
        r"(?:could not|couldn't|unable to|cannot|failed to) (?:connect|establish)",
        r"lost connection", r"host (?:is )?(?:unreachable|not responding|down)",
        r"is not responding",
        r"not reachable", r"(?:dns|mx) (?:lookup )?(?:error|failure|failed|timeout)",
        r"temporary (?:dns|lookup) failure",
        r"unable to (?:lookup|resolve)", r"broken pipe",
    )),
    ("syntaxerror", (
        r"syntax error", r"command (?:unrecognized|not recognized|not implemented)",
        r"(?:bad|invalid) (?:sequence of commands|command)", r"unrecognized command",
        r"need (?:rcpt|mail)",
    )),
    # Last, the vague words: "blocked" or "access denied" alone says only that we were refused.
    ("blocked", (r"\bblocked\b", r"access denied", r"\bbanned\b", r"\brefused\b")),
)

_TABLE = PatternTable(TEXT_PATTERNS)
_EACH = {
    reason: PatternTable([(reason, [p for r, ps in TEXT_PATTERNS if r == reason for p in ps])])
    for reason in VOCABULARY
}


def reason_from_text(text: str) -> str:
    """The first reason in table order whose wording appears in ``text``; '' if none does."""
    if not text:
        return ""
    return _TABLE.first(" ".join(text.split()).lower())


def mentions(text: str, reason: str) -> bool:
    """True when the wording of ``reason`` appears anywhere in ``text``, whatever else does."""
    return bool(text) and _EACH[reason].search(" ".join(text.split()).lower())


def kind_for(reason: str, temporary: bool = False) -> str:
    """hard, soft, complaint or ignore for a reason; a temporary failure is never hard."""
    if reason == "feedback":
        return "complaint"
    if reason in IGNORED_REASONS:
        return "ignore"
    if reason in HARD_REASONS and not temporary:
        return "hard"
    return "soft"
