"""CloudWatch metrics for the AWS double: datapoints recorded by the test (raw values at times),
and `GetMetricData` computing CloudWatch's statistics from them per period, as CloudWatch does:
a datapoint is stamped with the start of its period, periods align to the epoch, a period with
no values has no datapoint, and a count the load balancer did not publish is simply absent.
Requests and answers are held to botocore's model by the double's wire."""

import math
import threading

LOCK = threading.Lock()
# (namespace, metric, frozenset of (name, value)) → [(unix seconds, value)]
SERIES = {}


def record(args):
    """`{"namespace", "metric", "dimensions": {name: value}, "points": [[t, [v, …]], …]}`."""
    key = (args["namespace"], args["metric"], frozenset(args["dimensions"].items()))
    with LOCK:
        points = SERIES.setdefault(key, [])
        for t, values in args["points"]:
            points.extend((float(t), float(v)) for v in values)


def statistic(stat, values):
    values = sorted(values)
    if stat == "Sum":
        return sum(values)
    if stat == "Average":
        return sum(values) / len(values)
    if stat == "Minimum":
        return values[0]
    if stat == "Maximum":
        return values[-1]
    if stat == "SampleCount":
        return float(len(values))
    if stat.startswith("p"):
        # Nearest rank, as CloudWatch computes percentiles from raw values.
        rank = max(1, math.ceil(float(stat[1:]) / 100 * len(values)))
        return values[rank - 1]
    raise ValueError(stat)


def get_metric_data(p):
    start, end = float(p["StartTime"]), float(p["EndTime"])
    results, messages = [], []
    for q in p["MetricDataQueries"]:
        if "MetricStat" not in q:
            messages.append({"Code": "Unsupported", "Value": "the double computes MetricStat queries only"})
            continue
        ms = q["MetricStat"]
        metric = ms["Metric"]
        key = (metric["Namespace"], metric["MetricName"], frozenset((d["Name"], d["Value"]) for d in metric.get("Dimensions", [])))
        period = int(ms["Period"])
        by_period = {}
        with LOCK:
            for t, v in SERIES.get(key, []):
                if start <= t < end:
                    by_period.setdefault(int(t // period * period), []).append(v)
        stamps = sorted(by_period)
        if p.get("ScanBy") == "TimestampDescending":
            stamps.reverse()
        results.append({"Id": q["Id"], "Label": metric["MetricName"], "Timestamps": stamps,
                        "Values": [statistic(ms["Stat"], by_period[t]) for t in stamps], "StatusCode": "Complete"})
    return {"MetricDataResults": results, "Messages": messages}


OPERATIONS = {"GetMetricData": get_metric_data}
