// nydus-pull pulls an image into containerd and unpacks it with the nydus
// snapshotter the way containerd's CRI plugin does: each layer's descriptor
// carries the image reference and layer digests that nydus-snapshotter needs
// to serve the layer remotely. containerd 1.6's `ctr images pull` does not
// add them, so it cannot pull a Nydus image.
//
// Usage: REGISTRY_AUTH=user:password nydus-pull SOCKET REFERENCE
// (plain HTTP; the credentials come from the environment, never argv).
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/pkg/snapshotters"
	"github.com/containerd/containerd/remotes/docker"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: REGISTRY_AUTH=user:password nydus-pull SOCKET REFERENCE")
		os.Exit(2)
	}
	socket, ref := os.Args[1], os.Args[2]
	user, password, _ := strings.Cut(os.Getenv("REGISTRY_AUTH"), ":")

	client, err := containerd.New(socket)
	if err != nil {
		fail("cannot connect to containerd at %s: %v", socket, err)
	}
	defer client.Close()

	credentials := func(string) (string, string, error) { return user, password, nil }
	resolver := docker.NewResolver(docker.ResolverOptions{
		Hosts: docker.ConfigureDefaultRegistries(
			docker.WithPlainHTTP(docker.MatchAllHosts),
			docker.WithAuthorizer(docker.NewDockerAuthorizer(docker.WithAuthCreds(credentials))),
		),
	})
	ctx := namespaces.WithNamespace(context.Background(), "default")
	image, err := client.Pull(ctx, ref,
		containerd.WithResolver(resolver),
		containerd.WithPullUnpack,
		containerd.WithPullSnapshotter("nydus"),
		containerd.WithImageHandlerWrapper(snapshotters.AppendInfoHandlerWrapper(ref)),
	)
	if err != nil {
		fail("cannot pull %s: %v", ref, err)
	}
	fmt.Printf("pulled %s (%s)\n", image.Name(), image.Target().Digest)
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "nydus-pull: "+format+"\n", args...)
	os.Exit(1)
}
