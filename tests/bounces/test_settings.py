"""The bounce settings: defaults, the policy they make, and values the service refuses."""

from __future__ import annotations

import pytest

from service.bounces.policy import BouncePolicy
from service.config import ConfigError, load_config

DEV = {"NEWSLETTER_ENV": "development"}


def test_defaults_and_the_policy_they_make() -> None:
    config = load_config(DEV)
    assert (config.bounce_soft_limit, config.bounce_soft_days, config.bounce_raw_days) == (3, 14, 30)
    assert (config.bounce_mailbox_done, config.bounce_mailbox_unparsed) == ("Processed", "Unparsed")
    assert config.ses_topic_arn_list == [] and config.bounce_mailbox_url == ""
    custom = load_config({**DEV, "NEWSLETTER_BOUNCE_SOFT_LIMIT": "5",
                          "NEWSLETTER_BOUNCE_SOFT_DAYS": "30",
                          "NEWSLETTER_SES_TOPIC_ARNS": "arn:a, arn:b ,"})
    assert BouncePolicy.from_config(custom) == BouncePolicy(soft_limit=5, soft_days=30)
    assert custom.ses_topic_arn_list == ["arn:a", "arn:b"]


@pytest.mark.parametrize(("name", "value", "message"), [
    ("NEWSLETTER_BOUNCE_SOFT_LIMIT", "0", "SOFT_LIMIT"),
    ("NEWSLETTER_BOUNCE_SOFT_DAYS", "0", "SOFT_DAYS"),
    ("NEWSLETTER_BOUNCE_RAW_DAYS", "-1", "RAW_DAYS"),
    ("NEWSLETTER_BOUNCE_POLL_SECONDS", "0", "POLL_SECONDS"),
    ("NEWSLETTER_BOUNCE_MAILBOX_URL", "https://mail.example.org/", "MAILBOX_URL"),
])
def test_bad_values_are_refused(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config({**DEV, name: value})
