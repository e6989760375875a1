package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// CleanOptions say what Clean removes.
type CleanOptions struct {
	// Force removes the containers and networks of runs whose harness is
	// still alive on this host too; without it they are left alone.
	Force bool
	// Images removes the cached node images as well.
	Images bool
	// DryRun only reports what would be removed.
	DryRun bool
	// Run limits the cleaning to one run id ("target/timestamp").
	Run string
}

// CleanReport lists what Clean removed (or would remove) and spared.
type CleanReport struct {
	Containers []string
	Networks   []string
	Images     []string
	// Spared names runs left alone because their harness is alive.
	Spared []string
}

// Clean removes what runs of this runtime left behind: containers and
// networks labelled as ours whose harness process is gone (killed with
// SIGKILL, a crashed machine), and with opts.Images the cached images.
func Clean(ctx context.Context, opts CleanOptions) (CleanReport, error) {
	var rep CleanReport
	cli, err := Connect(ctx)
	if err != nil {
		return rep, err
	}
	defer cli.Close()
	host, _ := os.Hostname()
	spared := map[string]bool{}
	keep := func(labels map[string]string) bool {
		if opts.Force || !ownerAlive(labels[LabelOwner], host) {
			return false
		}
		spared[labels[LabelRun]] = true
		return true
	}
	f := make(client.Filters).Add("label", LabelManaged+"=true")
	if opts.Run != "" {
		f.Add("label", LabelRun+"="+opts.Run)
	}
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return rep, fmt.Errorf("list containers: %w", err)
	}
	var errs []error
	for _, c := range cs.Items {
		if keep(c.Labels) {
			continue
		}
		name := strings.TrimPrefix(strings.Join(c.Names, ","), "/")
		rep.Containers = append(rep.Containers, name)
		if opts.DryRun {
			continue
		}
		if err := removeContainer(ctx, cli, c.ID); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return rep, fmt.Errorf("list networks: %w", err)
	}
	for _, n := range ns.Items {
		if keep(n.Labels) {
			continue
		}
		rep.Networks = append(rep.Networks, n.Name)
		if opts.DryRun {
			continue
		}
		// Its containers are gone (above), but the engine may not have
		// released their endpoints yet, and a create sent by a harness
		// that was killed meanwhile may still complete: removeNetwork
		// waits for both, within a bound.
		if err := removeNetwork(ctx, cli, n.ID, n.Name, n.Labels[LabelRun]); err != nil {
			errs = append(errs, err)
		}
	}
	if opts.Images {
		is, err := cli.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("label", LabelManaged+"=image")})
		if err != nil {
			return rep, fmt.Errorf("list images: %w", err)
		}
		for _, im := range is.Items {
			name := im.ID
			if len(im.RepoTags) > 0 {
				name = im.RepoTags[0]
			}
			rep.Images = append(rep.Images, name)
			if opts.DryRun {
				continue
			}
			if _, err := cli.ImageRemove(ctx, im.ID, client.ImageRemoveOptions{Force: true, PruneChildren: true}); err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("remove image %s: %w", name, err))
			}
		}
	}
	for r := range spared {
		rep.Spared = append(rep.Spared, r)
	}
	sort.Strings(rep.Containers)
	sort.Strings(rep.Networks)
	sort.Strings(rep.Images)
	sort.Strings(rep.Spared)
	return rep, errors.Join(errs...)
}

// ownerAlive reports whether the harness named by an owner label ("host/pid")
// runs on this host.
func ownerAlive(owner, host string) bool {
	h, p, ok := strings.Cut(owner, "/")
	if !ok || h != host {
		return false
	}
	pid, err := strconv.Atoi(p)
	if err != nil || pid <= 0 {
		return false
	}
	err = syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
