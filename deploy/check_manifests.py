#!/usr/bin/python3
"""Offline check of deploy/k8s/*.yaml and deploy/compose.yaml: no cluster, no network.

kubectl's client dry-run still asks an API server for its schema, so CI checks here what a
mistake in these files would break: the fields each kind needs, and the references between
objects (Service selectors and target ports, StatefulSet serviceName, volumes and mounts,
ConfigMaps and Secrets, the Indexed Job's N against its --shard N/…), plus the rules this project
sets (resource requests, health probes, non-root, a PVC per replica).

  check_manifests.py [--self-test] FILE...

Exit 0 when every file passes; 1 with one line per problem. --self-test also breaks the loaded
manifests in known ways and fails unless each break is reported.
"""
import copy
import re
import sys

import yaml

API_VERSIONS = {
    "ConfigMap": "v1",
    "Secret": "v1",
    "Service": "v1",
    "PersistentVolumeClaim": "v1",
    "StatefulSet": "apps/v1",
    "Deployment": "apps/v1",
    "Job": "batch/v1",
    "PodDisruptionBudget": "policy/v1",
}
WORKLOADS = ("StatefulSet", "Deployment", "Job")
# Objects the manifests use but the user creates from their own files (sweep-job.yaml says how).
CREATED_BY_USER = {("ConfigMap", "sigprop-sweep")}
NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def at(obj, path, default=None):
    for key in path.split("."):
        if not isinstance(obj, dict) or key not in obj:
            return default
        obj = obj[key]
    return obj


def where(doc):
    return "%s/%s" % (doc.get("kind"), at(doc, "metadata.name", "?"))


def check_container(doc, c, volumes, problems):
    w = "%s container %s" % (where(doc), c.get("name", "?"))
    if not c.get("name"):
        problems.append("%s: container without a name" % where(doc))
    if not c.get("image"):
        problems.append("%s: no image" % w)
    requests = at(c, "resources.requests", {}) or {}
    for resource in ("cpu", "memory"):
        if resource not in requests:
            problems.append("%s: no resources.requests.%s" % (w, resource))
    for mount in c.get("volumeMounts", []) or []:
        if mount.get("name") not in volumes:
            problems.append("%s: volumeMount %s names no volume" % (w, mount.get("name")))
        if not str(mount.get("mountPath", "")).startswith("/"):
            problems.append("%s: volumeMount %s needs an absolute mountPath" % (w, mount.get("name")))
    return w


def probe_is_grpc_health(probe):
    if not isinstance(probe, dict):
        return False
    if "grpc" in probe:
        return isinstance(at(probe, "grpc.port"), int)
    command = at(probe, "exec.command", []) or []
    return len(command) >= 2 and command[0] == "sigprop" and command[1] == "health"


def referenced(doc, kind):
    """ConfigMap or Secret names a pod template refers to."""
    names = set()
    spec = at(doc, "spec.template.spec", {}) or {}
    for v in spec.get("volumes", []) or []:
        if kind == "ConfigMap" and "configMap" in v:
            names.add(at(v, "configMap.name"))
        if kind == "Secret" and "secret" in v:
            names.add(at(v, "secret.secretName"))
    for c in spec.get("containers", []) or []:
        for source in c.get("envFrom", []) or []:
            key = "configMapRef" if kind == "ConfigMap" else "secretRef"
            if key in source:
                names.add(at(source, key + ".name"))
        for env in c.get("env", []) or []:
            key = "configMapKeyRef" if kind == "ConfigMap" else "secretKeyRef"
            if at(env, "valueFrom." + key):
                names.add(at(env, "valueFrom.%s.name" % key))
    return names


def check_workload(doc, by_kind, problems):
    w = where(doc)
    template = at(doc, "spec.template", {}) or {}
    labels = at(template, "metadata.labels", {}) or {}
    spec = template.get("spec", {}) or {}
    containers = spec.get("containers", []) or []
    if not containers:
        problems.append("%s: no containers" % w)
    volumes = {v.get("name") for v in spec.get("volumes", []) or []}
    claims = {at(t, "metadata.name") for t in at(doc, "spec.volumeClaimTemplates", []) or []}
    if doc["kind"] != "Job":
        selector = at(doc, "spec.selector.matchLabels", {}) or {}
        if not selector or any(labels.get(k) != v for k, v in selector.items()):
            problems.append("%s: spec.selector.matchLabels does not match the pod labels" % w)
    security = spec.get("securityContext", {}) or {}
    if not security.get("runAsNonRoot"):
        problems.append("%s: pods must set securityContext.runAsNonRoot" % w)
    for c in containers:
        cw = check_container(doc, c, volumes | claims, problems)
        if doc["kind"] in ("StatefulSet", "Deployment"):
            for probe in ("readinessProbe", "livenessProbe"):
                if not probe_is_grpc_health(c.get(probe)):
                    problems.append("%s: %s must ask the gRPC health service" % (cw, probe))
            if not c.get("ports"):
                problems.append("%s: no ports" % cw)
    for v in spec.get("volumes", []) or []:
        claim = at(v, "persistentVolumeClaim.claimName")
        if claim is not None and claim not in by_kind.get("PersistentVolumeClaim", {}):
            problems.append("%s: volume %s uses PVC %s, defined nowhere" % (w, v.get("name"), claim))
    for kind in ("ConfigMap", "Secret"):
        for name in referenced(doc, kind):
            if name not in by_kind.get(kind, {}) and (kind, name) not in CREATED_BY_USER:
                problems.append("%s: uses %s %s, defined nowhere" % (w, kind, name))
    if doc["kind"] == "StatefulSet":
        service = by_kind.get("Service", {}).get(at(doc, "spec.serviceName"))
        if service is None:
            problems.append("%s: serviceName %s names no Service" % (w, at(doc, "spec.serviceName")))
        elif at(service, "spec.clusterIP") != "None":
            problems.append("%s: serviceName %s is not headless" % (w, at(service, "metadata.name")))
        if not claims:
            problems.append("%s: no volumeClaimTemplates (each replica needs its own PVC)" % w)
        for t in at(doc, "spec.volumeClaimTemplates", []) or []:
            if not at(t, "spec.resources.requests.storage"):
                problems.append("%s: claim template %s requests no storage" % (w, at(t, "metadata.name")))
    if doc["kind"] == "Job":
        if spec.get("restartPolicy") not in ("Never", "OnFailure"):
            problems.append("%s: restartPolicy must be Never or OnFailure" % w)
        if at(doc, "spec.completionMode") == "Indexed":
            check_indexed_job(doc, containers, problems)


def check_indexed_job(doc, containers, problems):
    w = where(doc)
    completions = at(doc, "spec.completions")
    if not isinstance(completions, int) or completions < 1:
        problems.append("%s: an Indexed Job needs completions ≥ 1" % w)
        return
    for c in containers:
        command = [str(a) for a in (c.get("command", []) or []) + (c.get("args", []) or [])]
        if "--shard" not in command:
            problems.append("%s: container %s runs no --shard" % (w, c.get("name")))
            continue
        shard = command[command.index("--shard") + 1] if command.index("--shard") + 1 < len(command) else ""
        match = re.fullmatch(r"\$\(JOB_COMPLETION_INDEX\)/(\d+)", shard)
        if not match:
            problems.append("%s: --shard must be $(JOB_COMPLETION_INDEX)/N, got %r" % (w, shard))
        elif int(match.group(1)) != completions:
            problems.append("%s: --shard …/%s but completions is %d" % (w, match.group(1), completions))
        out = command[command.index("--out") + 1] if "--out" in command else ""
        if "$(JOB_COMPLETION_INDEX)" not in out:
            problems.append("%s: each shard needs its own --out file (with $(JOB_COMPLETION_INDEX))" % w)


def check_service(doc, pods, problems):
    w = where(doc)
    selector = at(doc, "spec.selector", {}) or {}
    matching = [p for p in pods if selector and all(p["labels"].get(k) == v for k, v in selector.items())]
    if not matching:
        problems.append("%s: selector %s matches no pod template" % (w, selector))
    for port in at(doc, "spec.ports", []) or []:
        target = port.get("targetPort", port.get("port"))
        for p in matching:
            names = {cp.get("name") for cp in p["ports"]}
            numbers = {cp.get("containerPort") for cp in p["ports"]}
            if target not in names and target not in numbers:
                problems.append("%s: targetPort %s is no port of %s" % (w, target, p["where"]))


def check_k8s(docs):
    problems = []
    by_kind = {}
    for doc in docs:
        kind = doc.get("kind")
        if kind not in API_VERSIONS:
            problems.append("%s: unknown kind" % where(doc))
            continue
        if doc.get("apiVersion") != API_VERSIONS[kind]:
            problems.append("%s: apiVersion must be %s" % (where(doc), API_VERSIONS[kind]))
        name = at(doc, "metadata.name")
        if not isinstance(name, str) or not NAME.match(name):
            problems.append("%s: metadata.name must be a DNS name" % where(doc))
        if name in by_kind.setdefault(kind, {}):
            problems.append("%s: defined twice" % where(doc))
        by_kind[kind][name] = doc
    pods = []
    for doc in docs:
        if doc.get("kind") in WORKLOADS:
            check_workload(doc, by_kind, problems)
            spec = at(doc, "spec.template.spec", {}) or {}
            pods.append({
                "where": where(doc),
                "labels": at(doc, "spec.template.metadata.labels", {}) or {},
                "ports": [p for c in spec.get("containers", []) or [] for p in c.get("ports", []) or []],
            })
    for doc in docs:
        if doc.get("kind") == "Service":
            check_service(doc, pods, problems)
        if doc.get("kind") == "PodDisruptionBudget":
            selector = at(doc, "spec.selector.matchLabels", {}) or {}
            if not any(all(p["labels"].get(k) == v for k, v in selector.items()) for p in pods):
                problems.append("%s: selector matches no pod template" % where(doc))
    return problems


def check_compose(compose):
    problems = []
    services = compose.get("services") or {}
    if not services:
        return ["compose: no services"]
    declared = set((compose.get("volumes") or {}).keys())
    for name, service in services.items():
        w = "compose service %s" % name
        if not service.get("image") and not service.get("build"):
            problems.append("%s: needs image or build" % w)
        mounts = [str(v) for v in service.get("volumes", []) or []]
        data = [m for m in mounts if m.split(":")[1:2] == ["/var/lib/sigprop"]]
        if not data:
            problems.append("%s: /var/lib/sigprop is not on a volume" % w)
        for m in data:
            source = m.split(":")[0]
            if not source.startswith((".", "/")) and source not in declared:
                problems.append("%s: volume %s is not declared under volumes:" % (w, source))
        for port in service.get("ports", []) or []:
            if not str(port).startswith("127.0.0.1:"):
                problems.append("%s: port %s is published beyond loopback without tokens" % (w, port))
        if "sigprop" not in " ".join(str(t) for t in at(service, "healthcheck.test", []) or []):
            problems.append("%s: healthcheck must run sigprop health" % w)
    return problems


def load(paths):
    k8s, composes = [], []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
        if path.endswith("compose.yaml"):
            composes.extend(docs)
        else:
            k8s.extend(docs)
    return k8s, composes


def check(k8s, composes):
    problems = check_k8s(k8s)
    for compose in composes:
        problems.extend(check_compose(compose))
    return problems


def find(docs, kind, name):
    return next(d for d in docs if d.get("kind") == kind and at(d, "metadata.name") == name)


def self_test(k8s, composes):
    """Each mutation is a mistake the check must report; returns the ones it missed."""
    def service_selector(docs, _):
        find(docs, "Service", "sigprop-headless")["spec"]["selector"]["app.kubernetes.io/component"] = "srv"

    def not_headless(docs, _):
        del find(docs, "Service", "sigprop-headless")["spec"]["clusterIP"]

    def no_probe(docs, _):
        del find(docs, "StatefulSet", "sigprop")["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]

    def no_requests(docs, _):
        del find(docs, "StatefulSet", "sigprop")["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"]

    def no_claims(docs, _):
        del find(docs, "StatefulSet", "sigprop")["spec"]["volumeClaimTemplates"]

    def missing_secret(docs, _):
        docs.remove(find(docs, "Secret", "sigprop-tls"))

    def wrong_port(docs, _):
        find(docs, "Service", "sigprop")["spec"]["ports"][0]["targetPort"] = "http"

    def shard_count(docs, _):
        find(docs, "Job", "sigprop-sweep")["spec"]["completions"] = 5

    def shared_out(docs, _):
        command = find(docs, "Job", "sigprop-sweep")["spec"]["template"]["spec"]["containers"][0]["command"]
        command[command.index("--out") + 1] = "/results/all.jsonl"

    def root(docs, _):
        del find(docs, "StatefulSet", "sigprop")["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"]

    def compose_public(_, composes):
        composes[0]["services"]["sigprop"]["ports"] = ["50051:50051"]

    def compose_no_volume(_, composes):
        composes[0]["services"]["sigprop"]["volumes"] = []

    missed = []
    for mutation in (service_selector, not_headless, no_probe, no_requests, no_claims,
                     missing_secret, wrong_port, shard_count, shared_out, root,
                     compose_public, compose_no_volume):
        docs, comps = copy.deepcopy(k8s), copy.deepcopy(composes)
        mutation(docs, comps)
        if not check(docs, comps):
            missed.append(mutation.__name__)
    return missed


def main(argv):
    run_self_test = "--self-test" in argv
    paths = [a for a in argv if a != "--self-test"]
    if not paths:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    k8s, composes = load(paths)
    problems = check(k8s, composes)
    for p in problems:
        print("check_manifests: " + p)
    if problems:
        return 1
    if run_self_test:
        missed = self_test(k8s, composes)
        for name in missed:
            print("check_manifests: self-test: mistake '%s' was not reported" % name)
        if missed:
            return 1
    print("check_manifests: %d Kubernetes objects, %d compose file(s): OK" % (len(k8s), len(composes)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
