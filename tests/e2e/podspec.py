"""podspec.py: a DaemonSet's pod template turned into the CRI requests
kubelet sends for it (RunPodSandbox's PodSandboxConfig, CreateContainer's
ContainerConfig), so that the e2e runs a manifest exactly as a node would.

What kubelet derives from each field is done as kubelet does it (pkg/kubelet
kuberuntime: the sandbox's namespaces and privilege, hostPath mounts with
their propagation, the security context, the resources as CFS quota and
shares). A field that would change how the container runs and is not
handled here is an error, not ignored: the test must never run something
other than what the manifest says. Fields that only choose a node
(nodeSelector, tolerations...) or concern the API server are listed as such.
"""

import os

# Fields of the pod spec that do not reach the runtime: scheduling, the API
# server's (no token mounted, no service variables: what the manifest asks),
# and the grace period, which the test passes to StopContainer.
NOT_FOR_THE_RUNTIME = {
    "nodeSelector", "tolerations", "affinity", "priorityClassName", "serviceAccountName",
    "automountServiceAccountToken", "enableServiceLinks", "terminationGracePeriodSeconds",
}
# The fields translated below.
TRANSLATED = {"containers", "volumes", "hostNetwork", "hostPID", "hostIPC", "securityContext"}
CONTAINER_FIELDS = {
    "name", "image", "imagePullPolicy", "command", "args", "env", "securityContext",
    "resources", "volumeMounts", "workingDir",
}
# kubelet's defaults for a container that is not privileged (procMount Default).
DEFAULT_MASKED_PATHS = [
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/sys/firmware", "/sys/devices/virtual/powercap",
]
DEFAULT_READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


class Unsupported(Exception):
    pass


def daemonset(documents, name):
    """The DaemonSet called name among the manifest's documents."""
    for doc in documents:
        if doc and doc.get("kind") == "DaemonSet" and doc["metadata"]["name"] == name:
            return doc
    raise Unsupported(f"no DaemonSet {name} in the manifest")


def millicpu(quantity):
    text = str(quantity)
    return int(text[:-1]) if text.endswith("m") else int(float(text) * 1000)


def bytes_of(quantity):
    text = str(quantity)
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "k": 10**3, "M": 10**6, "G": 10**9}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return int(text[: -len(suffix)]) * factor
    return int(text)


def requests(api, ds, pod_name, cgroup_parent, image_ref, node_root, without_mounts=(), extra_args=()):
    """(PodSandboxConfig, ContainerConfig, terminationGracePeriodSeconds) for
    the DaemonSet ds's first container; node_root is the node's / as this
    process reaches it (to check hostPath types). without_mounts and
    extra_args are the test's mutations of the spec (a volumeMount left out,
    arguments added), applied before translating."""
    template = ds["spec"]["template"]
    spec = template["spec"]
    unknown = set(spec) - NOT_FOR_THE_RUNTIME - TRANSLATED
    if unknown:
        raise Unsupported(f"pod spec fields not translated: {sorted(unknown)}")
    # kubelet would mount a token and set service variables otherwise.
    for field in ("automountServiceAccountToken", "enableServiceLinks"):
        if spec.get(field, True) is not False:
            raise Unsupported(f"{field} must be false: its mount or variables are not translated")
    if len(spec["containers"]) != 1:
        raise Unsupported("one container per pod is translated")
    container = spec["containers"][0]
    unknown = set(container) - CONTAINER_FIELDS
    if unknown:
        raise Unsupported(f"container fields not translated: {sorted(unknown)}")
    pod_security = spec.get("securityContext", {})
    if set(pod_security) - {"runAsUser", "runAsGroup"}:
        raise Unsupported(f"pod securityContext fields not translated: {sorted(pod_security)}")
    security = container.get("securityContext", {})
    if set(security) - {"privileged", "runAsUser", "runAsGroup", "readOnlyRootFilesystem",
                        "allowPrivilegeEscalation", "capabilities"}:
        raise Unsupported(f"container securityContext fields not translated: {sorted(security)}")
    privileged = bool(security.get("privileged", False))

    namespace = ds["metadata"].get("namespace", "default")
    uid = f"{pod_name}-uid"
    labels = dict(template["metadata"].get("labels", {}))
    labels.update({"io.kubernetes.pod.name": pod_name, "io.kubernetes.pod.namespace": namespace,
                   "io.kubernetes.pod.uid": uid})
    namespaces = api.NamespaceOption(
        network=api.NODE if spec.get("hostNetwork") else api.POD,
        pid=api.NODE if spec.get("hostPID") else api.CONTAINER,
        ipc=api.NODE if spec.get("hostIPC") else api.POD)
    sandbox = api.PodSandboxConfig(
        metadata=api.PodSandboxMetadata(name=pod_name, uid=uid, namespace=namespace),
        hostname="" if spec.get("hostNetwork") else pod_name,
        log_directory=f"/var/log/pods/{namespace}_{pod_name}_{uid}",
        labels=labels,
        linux=api.LinuxPodSandboxConfig(
            cgroup_parent=cgroup_parent,
            security_context=api.LinuxSandboxSecurityContext(
                namespace_options=namespaces, privileged=privileged)))

    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    mounts = []
    propagation = {None: api.PROPAGATION_PRIVATE, "None": api.PROPAGATION_PRIVATE,
                   "HostToContainer": api.PROPAGATION_HOST_TO_CONTAINER,
                   "Bidirectional": api.PROPAGATION_BIDIRECTIONAL}
    for mount in container.get("volumeMounts", []):
        if mount["mountPath"] in without_mounts:
            continue
        volume = volumes[mount["name"]]
        if set(volume) != {"name", "hostPath"}:
            raise Unsupported(f"volume {volume['name']}: only hostPath volumes are translated")
        host_path = volume["hostPath"]["path"]
        kind = volume["hostPath"].get("type", "")
        on_node = os.path.join(node_root, host_path.lstrip("/"))
        if kind == "Directory" and not os.path.isdir(on_node):
            raise Unsupported(f"hostPath {host_path} is not a directory on the node (kubelet would not start the pod)")
        if kind not in ("", "Directory"):
            raise Unsupported(f"hostPath type {kind} not translated")
        if mount.get("mountPropagation") == "Bidirectional" and not privileged:
            raise Unsupported("Bidirectional propagation needs a privileged container (kubelet refuses it)")
        mounts.append(api.Mount(container_path=mount["mountPath"], host_path=host_path,
                                readonly=bool(mount.get("readOnly", False)),
                                propagation=propagation[mount.get("mountPropagation")]))

    limits = container.get("resources", {}).get("limits", {})
    wanted = container.get("resources", {}).get("requests", {})
    resources = api.LinuxContainerResources(
        cpu_period=100000 if "cpu" in limits else 0,
        cpu_quota=millicpu(limits["cpu"]) * 100 if "cpu" in limits else 0,
        cpu_shares=max(2, millicpu(wanted.get("cpu", limits.get("cpu", "0"))) * 1024 // 1000),
        memory_limit_in_bytes=bytes_of(limits["memory"]) if "memory" in limits else 0)
    capabilities = security.get("capabilities", {})
    run_as_user = security.get("runAsUser", pod_security.get("runAsUser"))
    run_as_group = security.get("runAsGroup", pod_security.get("runAsGroup"))
    container_security = api.LinuxContainerSecurityContext(
        privileged=privileged,
        capabilities=api.Capability(add_capabilities=capabilities.get("add", []),
                                    drop_capabilities=capabilities.get("drop", [])),
        namespace_options=namespaces,
        readonly_rootfs=bool(security.get("readOnlyRootFilesystem", False)),
        no_new_privs=not security.get("allowPrivilegeEscalation", True) and not privileged,
        masked_paths=[] if privileged else DEFAULT_MASKED_PATHS,
        readonly_paths=[] if privileged else DEFAULT_READONLY_PATHS)
    if run_as_user is not None:
        container_security.run_as_user.value = run_as_user
    if run_as_group is not None:
        container_security.run_as_group.value = run_as_group
    envs = []
    for variable in container.get("env", []):
        if set(variable) != {"name", "value"}:
            raise Unsupported(f"env {variable['name']}: only plain values are translated")
        envs.append(api.KeyValue(key=variable["name"], value=variable["value"]))
    config = api.ContainerConfig(
        metadata=api.ContainerMetadata(name=container["name"]),
        image=api.ImageSpec(image=image_ref),
        command=container.get("command", []),
        args=list(container.get("args", [])) + list(extra_args),
        working_dir=container.get("workingDir", ""),
        envs=envs,
        mounts=mounts,
        log_path=f"{container['name']}/0.log",
        labels={"io.kubernetes.container.name": container["name"], **labels},
        linux=api.LinuxContainerConfig(resources=resources, security_context=container_security))
    return sandbox, config, int(spec.get("terminationGracePeriodSeconds", 30))
