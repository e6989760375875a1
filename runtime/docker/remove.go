package docker

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// removeBudget bounds how long removing one network (or one container) may
// keep retrying. On a loaded engine an endpoint is released some time after
// its container is gone, and a create that a killed harness sent may still
// complete after the harness died; both settle within seconds.
const removeBudget = time.Minute

// retryPause is the wait before attempt i of a removal: short at first,
// at most a second.
func retryPause(i int) time.Duration {
	return min(50*time.Millisecond<<min(i, 5), time.Second)
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// removeContainer force-removes a container and returns once the engine no
// longer knows it. A removal already in progress (another caller, or the
// engine still stopping it) is waited for rather than reported.
func removeContainer(ctx context.Context, cli *testcontainers.DockerClient, id string) error {
	deadline := time.Now().Add(removeBudget)
	var last error
	for i := 0; ; i++ {
		_, err := cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		if err == nil || errdefs.IsNotFound(err) {
			if _, ierr := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{}); errdefs.IsNotFound(ierr) {
				return nil
			}
		} else {
			last = err
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			if last == nil {
				last = errors.New("the engine still lists it")
			}
			return fmt.Errorf("remove container %s: gave up after %s: %w", short(id), removeBudget, last)
		}
		if err := sleepCtx(ctx, retryPause(i)); err != nil {
			return fmt.Errorf("remove container %s: %w (last error: %v)", short(id), err, last)
		}
	}
}

// removeNetwork removes a network of run (its id, for the error, in name),
// first emptying it: containers of the same run still attached (one a
// killed harness asked for may have been created since) are removed, any
// other endpoint is disconnected, and the removal is retried until the
// engine has released every endpoint. It fails only when the network
// still has endpoints after removeBudget, and then names them.
func removeNetwork(ctx context.Context, cli *testcontainers.DockerClient, id, name, run string) error {
	deadline := time.Now().Add(removeBudget)
	var last error
	for i := 0; ; i++ {
		if run != "" {
			f := make(client.Filters).Add("label", LabelRun+"="+run)
			if cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f}); err == nil {
				for _, c := range cs.Items {
					_ = removeContainer(ctx, cli, c.ID)
				}
			}
		}
		_, err := cli.NetworkRemove(ctx, id, client.NetworkRemoveOptions{})
		if err == nil || errdefs.IsNotFound(err) {
			return nil
		}
		last = err
		ins, ierr := cli.NetworkInspect(ctx, id, client.NetworkInspectOptions{})
		if errdefs.IsNotFound(ierr) {
			return nil
		}
		var endpoints []string
		if ierr == nil {
			for cid, ep := range ins.Network.Containers {
				endpoints = append(endpoints, ep.Name)
				// Force also removes an endpoint whose container is gone.
				target := cid
				if strings.HasPrefix(cid, "ep-") && ep.Name != "" {
					target = ep.Name
				}
				_, _ = cli.NetworkDisconnect(ctx, id, client.NetworkDisconnectOptions{Container: target, Force: true})
			}
			sort.Strings(endpoints)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("remove network %s: still has endpoints %v after %s of retries: %w", name, endpoints, removeBudget, last)
		}
		if err := sleepCtx(ctx, retryPause(i)); err != nil {
			return fmt.Errorf("remove network %s: %w (last error: %v)", name, err, last)
		}
	}
}
