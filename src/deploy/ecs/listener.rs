//! What the load balancer does with production traffic for ECS's own blue/green: the weights of
//! the target groups the production listener rule forwards to (`elbv2:DescribeRules`, or
//! `DescribeListeners` when the rule is a listener's default action).

use quick_xml::events::Event;

use crate::aws::json_rpc::{AwsError, Session};
use crate::aws::query::ELBV2;
use crate::logstore::sanitize::plain;

/// A target group a rule forwards to, and its share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Weighted {
    /// The group's name (`targetgroup/NAME/ID` in its ARN).
    pub target_group: String,
    pub weight: i64,
}

/// The weights of the forward action of `rule` (a rule ARN, or a listener ARN for its default).
pub async fn weights(session: &Session, rule: &str) -> Result<Vec<Weighted>, AwsError> {
    let xml = if rule.contains(":listener-rule/") {
        session.query(&ELBV2, "DescribeRules", &[("RuleArns.member.1", rule.to_string())]).await?
    } else {
        session.query(&ELBV2, "DescribeListeners", &[("ListenerArns.member.1", rule.to_string())]).await?
    };
    Ok(forwarded(&xml))
}

/// Every `TargetGroupArn`/`Weight` pair inside a `TargetGroups` list, in order.
pub fn forwarded(xml: &str) -> Vec<Weighted> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut out = Vec::new();
    let (mut arn, mut weight) = (None::<String>, None::<i64>);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => path.push(e.local_name().as_ref().to_string()),
            Ok(Event::Text(t)) => {
                let text = t.xml10_content().into_owned();
                let in_groups = path.iter().rev().nth(2).is_some_and(|p| p == "TargetGroups");
                match path.last().map(String::as_str) {
                    Some("TargetGroupArn") if in_groups => arn = Some(text.trim().to_string()),
                    Some("Weight") if in_groups => weight = text.trim().parse().ok(),
                    _ => {}
                }
            }
            Ok(Event::End(_)) => {
                let closed = path.pop();
                if closed.as_deref() == Some("member") && path.last().is_some_and(|p| p == "TargetGroups") {
                    if let Some(a) = arn.take() {
                        let name = a.split("targetgroup/").nth(1).and_then(|r| r.split('/').next()).unwrap_or(&a);
                        out.push(Weighted { target_group: plain(name), weight: weight.unwrap_or(1) });
                    }
                    weight = None;
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forward_weights_of_a_rule_are_read_in_order() {
        let xml = "<DescribeRulesResponse><DescribeRulesResult><Rules><member><Actions><member><Type>forward</Type>\
            <ForwardConfig><TargetGroups>\
            <member><TargetGroupArn>arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/checkout-blue/73e2d6bc24d8a067</TargetGroupArn><Weight>90</Weight></member>\
            <member><TargetGroupArn>arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/checkout-green/09a1b2c3</TargetGroupArn><Weight>10</Weight></member>\
            </TargetGroups></ForwardConfig></member></Actions></member></Rules></DescribeRulesResult></DescribeRulesResponse>";
        assert_eq!(
            forwarded(xml),
            [Weighted { target_group: "checkout-blue".into(), weight: 90 }, Weighted { target_group: "checkout-green".into(), weight: 10 }]
        );
    }
}
