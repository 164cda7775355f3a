#!/usr/bin/env python3
"""cri.py STUBS SOCKET IMAGE_SOCKET COMMAND...: a CRI client that does what
kubelet does.

STUBS is a directory holding api_pb2.py and api_pb2_grpc.py, generated at test
time by grpc_tools.protoc from Debian's k8s.io/cri-api api.proto. SOCKET is
containerd's socket (kubelet's --container-runtime-endpoint), IMAGE_SOCKET the
image service's (--image-service-endpoint): nydus-snapshotter's, whose CRI
keychain keeps PullImage's credentials for nydusd and passes the call on to
containerd. Commands:

  pull IMAGE                 PullImage, with $REGISTRY_AUTH (user:password)
                             in the CRI AuthConfig
  version                    Version (whether CRI answers)
  images                     ListImages through the image service (whether
                             nydus-snapshotter answers on its socket)
  run PREFIX N CGROUP IMAGE ARG...
                             N pods at once, named PREFIX-0...: RunPodSandbox (host network,
                             cgroup parent CGROUP), CreateContainer (as uid
                             65534, no_new_privs off, as Kubernetes'
                             allowPrivilegeEscalation default), StartContainer,
                             then wait for the container to exit. One line per
                             pod: NAME EXIT_CODE LOG_FILE CONTAINER_ID (log
                             path as the node sees it)
  start NAME CGROUP IMAGE ARG...
                             one pod as run does, without waiting: prints
                             NAME POD_ID CONTAINER_ID LOG_FILE
  daemonset MANIFEST NAME POD CGROUP IMAGE_REF NODE_ROOT [--without-mount PATH]... [--arg ARG]...
                             the DaemonSet NAME's pod from the YAML MANIFEST,
                             translated as kubelet does (podspec.py), as pod
                             POD: PullImage of IMAGE_REF (the manifest's image
                             as the test's registry names it) unless present,
                             RunPodSandbox, CreateContainer, StartContainer.
                             The options mutate the spec first (for the bad
                             cases). Prints POD POD_ID CONTAINER_ID LOG_FILE
                             GRACE_SECONDS
  stop CONTAINER SECONDS     StopContainer with that grace period, as kubelet
                             stops a pod; the installer restarts containerd
                             meanwhile, so a call cut off is made again once
                             CRI answers, until the container has exited.
                             Prints its exit code
  wait-exit CONTAINER        waits (at most 120 s) for the container to exit;
                             prints its exit code
  rmi IMAGE                  RemoveImage
  pod-id NAME                the id of the pod named NAME
  state CONTAINER            the container's state (CONTAINER_RUNNING...)
  remove POD                 StopContainer, RemoveContainer for its
                             containers, StopPodSandbox, RemovePodSandbox
  teardown                   StopContainer, RemoveContainer, StopPodSandbox,
                             RemovePodSandbox for every pod, RemoveImage for
                             every image

Nothing here names a snapshotter: containerd's CRI plugin chooses it from its
config. No option or credential is printed.
"""

import os
import sys
import threading
import time

import grpc

WAIT_SECONDS = 120


def main():
    sys.path.insert(0, sys.argv[1])
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import api_pb2 as api  # noqa: E402 (generated at test time)
    import api_pb2_grpc as api_grpc  # noqa: E402

    runtime = api_grpc.RuntimeServiceStub(grpc.insecure_channel("unix://" + sys.argv[2]))
    images = api_grpc.ImageServiceStub(grpc.insecure_channel("unix://" + sys.argv[3]))
    command, args = sys.argv[4], sys.argv[5:]

    if command == "pull":
        user, password = os.environ["REGISTRY_AUTH"].split(":", 1)
        images.PullImage(api.PullImageRequest(
            image=api.ImageSpec(image=args[0]),
            auth=api.AuthConfig(username=user, password=password)), timeout=WAIT_SECONDS)
    elif command == "images":
        images.ListImages(api.ListImagesRequest(), timeout=5)
    elif command == "version":
        reply = runtime.Version(api.VersionRequest(), timeout=5)
        print(reply.runtime_name, reply.runtime_version)
    elif command == "run":
        prefix, count, cgroup, image, argv = args[0], int(args[1]), args[2], args[3], args[4:]
        results = [None] * count

        def one(index):
            try:
                results[index] = run_pod(api, runtime, f"{prefix}-{index}", cgroup, image, argv)
            except Exception as error:  # reported below, one line per pod
                results[index] = f"{prefix}-{index} failed {type(error).__name__}: {short(error)}"

        threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print("\n".join(results))
        return 0 if all(" failed " not in r for r in results) else 1
    elif command == "start":
        name, cgroup, image, argv = args[0], args[1], args[2], args[3:]
        pod, container = start_pod(api, runtime, name, cgroup, image, argv)
        status = runtime.ContainerStatus(api.ContainerStatusRequest(container_id=container)).status
        print(name, pod, container, status.log_path)
    elif command == "daemonset":
        import podspec  # noqa: E402 (beside this file)
        import yaml  # noqa: E402 (in the test's venv)
        manifest, ds_name, name, cgroup, image_ref, node_root = args[:6]
        without, extra, rest = [], [], args[6:]
        while rest:
            option, value, rest = rest[0], rest[1], rest[2:]
            {"--without-mount": without, "--arg": extra}[option].append(value)
        with open(manifest) as file:
            ds = podspec.daemonset(list(yaml.safe_load_all(file)), ds_name)
        sandbox, config, grace = podspec.requests(api, ds, name, cgroup, image_ref, node_root, without, extra)
        present = images.ImageStatus(api.ImageStatusRequest(image=api.ImageSpec(image=image_ref))).image.id
        if not present:
            user, password = os.environ["REGISTRY_AUTH"].split(":", 1)
            images.PullImage(api.PullImageRequest(
                image=api.ImageSpec(image=image_ref),
                auth=api.AuthConfig(username=user, password=password)), timeout=WAIT_SECONDS)
        pod = runtime.RunPodSandbox(api.RunPodSandboxRequest(config=sandbox), timeout=WAIT_SECONDS).pod_sandbox_id
        container = runtime.CreateContainer(api.CreateContainerRequest(
            pod_sandbox_id=pod, config=config, sandbox_config=sandbox), timeout=WAIT_SECONDS).container_id
        runtime.StartContainer(api.StartContainerRequest(container_id=container), timeout=WAIT_SECONDS)
        status = runtime.ContainerStatus(api.ContainerStatusRequest(container_id=container)).status
        print(name, pod, container, status.log_path, grace)
    elif command == "stop":
        print(stop_container(api, runtime, args[0], int(args[1])))
    elif command == "wait-exit":
        print(wait_exit(api, runtime, args[0], time.monotonic() + WAIT_SECONDS))
    elif command == "pod-id":
        pods = runtime.ListPodSandbox(api.ListPodSandboxRequest()).items
        print(next(pod.id for pod in pods if pod.metadata.name == args[0]))
    elif command == "rmi":
        images.RemoveImage(api.RemoveImageRequest(image=api.ImageSpec(image=args[0])))
    elif command == "state":
        status = runtime.ContainerStatus(api.ContainerStatusRequest(container_id=args[0])).status
        print(api.ContainerState.Name(status.state))
    elif command == "remove":
        remove_pod(api, runtime, args[0])
    elif command == "teardown":
        for pod in runtime.ListPodSandbox(api.ListPodSandboxRequest()).items:
            remove_pod(api, runtime, pod.id)
        for image in images.ListImages(api.ListImagesRequest()).images:
            images.RemoveImage(api.RemoveImageRequest(image=api.ImageSpec(image=image.id)))
    else:
        sys.exit(f"cri.py: unknown command {command}")
    return 0


def short(error):
    """An error's first line, with containerd's echo of mount options cut:
    they can carry the registry credentials."""
    text = error.details() if isinstance(error, grpc.RpcError) else str(error)
    text = text.splitlines()[0] if text else ""
    for key in ("extraoption=", "io.katacontainers.volume="):
        if key in text:
            text = text[:text.index(key)] + key + "<hidden>"
    return text


def wait_exit(api, runtime, container, deadline):
    """The container's exit code once it has exited; CRI calls that fail
    while containerd restarts are made again until the deadline."""
    while time.monotonic() < deadline:
        try:
            status = runtime.ContainerStatus(api.ContainerStatusRequest(container_id=container), timeout=5).status
            if status.state == api.CONTAINER_EXITED:
                return status.exit_code
        except grpc.RpcError as error:
            if error.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise
        time.sleep(0.5)
    raise TimeoutError(f"container {container} still runs")


def stop_container(api, runtime, container, grace):
    """StopContainer as kubelet makes it; made again when containerd's
    restart cut it off, until the container has exited."""
    deadline = time.monotonic() + grace + WAIT_SECONDS
    while True:
        try:
            runtime.StopContainer(api.StopContainerRequest(container_id=container, timeout=grace),
                                  timeout=grace + 30)
            return wait_exit(api, runtime, container, deadline)
        except grpc.RpcError as error:
            if error.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                                    grpc.StatusCode.UNKNOWN) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def remove_pod(api, runtime, pod):
    containers = runtime.ListContainers(api.ListContainersRequest(
        filter=api.ContainerFilter(pod_sandbox_id=pod))).containers
    for container in containers:
        runtime.StopContainer(api.StopContainerRequest(container_id=container.id, timeout=10))
        runtime.RemoveContainer(api.RemoveContainerRequest(container_id=container.id))
    runtime.StopPodSandbox(api.StopPodSandboxRequest(pod_sandbox_id=pod))
    runtime.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=pod))


def run_pod(api, runtime, name, cgroup, image, argv):
    pod, container = start_pod(api, runtime, name, cgroup, image, argv)
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        status = runtime.ContainerStatus(api.ContainerStatusRequest(container_id=container)).status
        if status.state == api.CONTAINER_EXITED:
            return f"{name} {status.exit_code} {status.log_path} {container}"
        if time.monotonic() > deadline:
            return f"{name} failed: still running after {WAIT_SECONDS} s"
        time.sleep(0.2)


def start_pod(api, runtime, name, cgroup, image, argv):
    log_dir = f"/var/log/pods/{name}"
    pod_config = api.PodSandboxConfig(
        metadata=api.PodSandboxMetadata(name=name, uid=name, namespace="e2e"),
        log_directory=log_dir,
        linux=api.LinuxPodSandboxConfig(
            cgroup_parent=cgroup,
            security_context=api.LinuxSandboxSecurityContext(
                namespace_options=api.NamespaceOption(network=api.NODE))))
    pod = runtime.RunPodSandbox(api.RunPodSandboxRequest(config=pod_config), timeout=WAIT_SECONDS).pod_sandbox_id
    container_config = api.ContainerConfig(
        metadata=api.ContainerMetadata(name="probe"),
        image=api.ImageSpec(image=image),
        command=argv,
        log_path="probe.log",
        linux=api.LinuxContainerConfig(
            security_context=api.LinuxContainerSecurityContext(
                run_as_user=api.Int64Value(value=65534), no_new_privs=False)))
    container = runtime.CreateContainer(api.CreateContainerRequest(
        pod_sandbox_id=pod, config=container_config, sandbox_config=pod_config), timeout=WAIT_SECONDS).container_id
    runtime.StartContainer(api.StartContainerRequest(container_id=container), timeout=WAIT_SECONDS)
    return pod, container


if __name__ == "__main__":
    try:
        sys.exit(main())
    except grpc.RpcError as error:
        sys.exit(f"cri.py: {sys.argv[4]}: {error.code().name}: {short(error)}")
