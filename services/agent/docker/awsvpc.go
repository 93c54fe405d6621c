package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// awsvpc network mode: every task gets its own network namespace, held by
// a pause container (PauseContainerName, as amazon-ecs-agent names its
// own) attached to a Docker bridge network the agent manages; the task's
// containers join that namespace (NetworkMode container:<pause>), so they
// share one address and reach each other on localhost. The address comes
// from the network's subnet (the agent's --awsvpc-subnet); the host reaches
// it through the bridge. Stopping the pause container frees the address.

const (
	// PauseContainerName is the ECS container name of an awsvpc task's
	// network-namespace holder. It never shows in reports.
	PauseContainerName = "~internal~ecs~pause"
	// DefaultPauseImage is the image the agent makes for pause containers.
	DefaultPauseImage = "berth/pause:1"
	// LabelAWSVPCNetwork marks the Docker network an agent manages for
	// awsvpc tasks (value: the agent's owner label).
	LabelAWSVPCNetwork = "io.berth.awsvpc"
)

// AWSVPCNetworkName is the Docker network of an agent's awsvpc tasks.
func AWSVPCNetworkName(owner string) string {
	if owner == "" {
		owner = DefaultOwner
	}
	return SanitizeName("berth-awsvpc-" + owner)
}

// NetworkInfo describes a Docker network.
type NetworkInfo struct {
	ID      string
	Name    string
	Subnet  netip.Prefix
	Gateway netip.Addr
	// Endpoints is the number of containers attached (running ones).
	Endpoints int
}

// EnsureAWSVPCNetwork creates the bridge network name with subnet (gateway:
// the subnet's first address), or checks that the existing one has that
// subnet. Docker refuses a subnet that overlaps another network's.
func (c *Client) EnsureAWSVPCNetwork(ctx context.Context, name string, subnet netip.Prefix, owner string) (NetworkInfo, error) {
	subnet = subnet.Masked()
	if !subnet.Addr().Is4() || subnet.Bits() > 29 {
		return NetworkInfo{}, fmt.Errorf("awsvpc subnet %s: want an IPv4 CIDR of /29 or larger: %w", subnet, ErrInvalid)
	}
	info, err := c.InspectNetwork(ctx, name)
	if err == nil {
		if info.Subnet != subnet {
			return NetworkInfo{}, fmt.Errorf("docker network %s has subnet %s, not %s (remove it or use its subnet): %w", name, info.Subnet, subnet, ErrConflict)
		}
		return info, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return NetworkInfo{}, err
	}
	gw := subnet.Addr().Next()
	_, err = c.api.NetworkCreate(ctx, name, client.NetworkCreateOptions{
		Driver: "bridge",
		IPAM:   &network.IPAM{Driver: "default", Config: []network.IPAMConfig{{Subnet: subnet, Gateway: gw}}},
		Labels: map[string]string{LabelManaged: owner, LabelAWSVPCNetwork: owner},
	})
	if err != nil && !errors.Is(wrap("", err), ErrConflict) {
		return NetworkInfo{}, wrap("create network "+name, err)
	}
	return c.InspectNetwork(ctx, name)
}

// InspectNetwork describes a Docker network (its first IPv4 subnet).
func (c *Client) InspectNetwork(ctx context.Context, name string) (NetworkInfo, error) {
	res, err := c.api.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	if err != nil {
		return NetworkInfo{}, wrap("inspect network "+name, err)
	}
	n := res.Network
	out := NetworkInfo{ID: n.ID, Name: n.Name, Endpoints: len(n.Containers)}
	for _, cfg := range n.IPAM.Config {
		if cfg.Subnet.Addr().Is4() {
			out.Subnet, out.Gateway = cfg.Subnet, cfg.Gateway
			break
		}
	}
	return out, nil
}

// RemoveNetwork removes a Docker network; a missing one is not an error.
func (c *Client) RemoveNetwork(ctx context.Context, name string) error {
	_, err := c.api.NetworkRemove(ctx, name, client.NetworkRemoveOptions{})
	if err = wrap("remove network "+name, err); errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// EnsurePauseImage makes ref, the pause image, when the daemon lacks it:
// one static executable, /pause, that waits for a signal forever. It is
// built here (no registry involved) for the daemon's architecture.
func (c *Client) EnsurePauseImage(ctx context.Context, ref string) error {
	if _, err := c.InspectImage(ctx, ref); err == nil {
		return nil
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	info, err := c.Info(ctx)
	if err != nil {
		return err
	}
	exe, err := pauseExecutable(info.Architecture)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{Name: "pause", Mode: 0o755, Size: int64(len(exe)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := tw.Write(exe); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	res, err := c.api.ImageImport(ctx, client.ImageImportSource{Source: &buf, SourceName: "-"}, ref,
		client.ImageImportOptions{Changes: []string{`ENTRYPOINT ["/pause"]`}, Message: "Berth awsvpc pause container"})
	if err != nil {
		return wrap("import "+ref, err)
	}
	defer res.Close()
	if _, err := io.Copy(io.Discard, res); err != nil {
		return wrap("import "+ref, err)
	}
	if _, err := c.InspectImage(ctx, ref); err != nil {
		return fmt.Errorf("pause image %s after import: %w", ref, err)
	}
	return nil
}

// pauseExecutable is a minimal static Linux ELF executable that blocks in
// a system call forever (pause on x86-64; ppoll with no descriptors and no
// timeout on arm64). As PID 1 of its container it ignores SIGTERM, so it
// is stopped with SIGKILL.
func pauseExecutable(arch string) ([]byte, error) {
	var machine uint16
	var code []byte
	switch arch {
	case "x86_64", "amd64":
		machine = 62 // EM_X86_64
		// loop: mov eax, 34 (pause); syscall; jmp loop
		code = []byte{0xb8, 0x22, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf7}
	case "aarch64", "arm64":
		machine = 183 // EM_AARCH64
		// loop: mov x8, #73 (ppoll); mov x0..x3, #0; svc #0; b loop
		for _, ins := range []uint32{0xd2800928, 0xd2800000, 0xd2800001, 0xd2800002, 0xd2800003, 0xd4000001, 0x17fffffa} {
			code = binary.LittleEndian.AppendUint32(code, ins)
		}
	default:
		return nil, fmt.Errorf("pause executable for architecture %q: %w", arch, ErrUnsupported)
	}
	const base, ehsize, phsize = 0x400000, 64, 56
	size := uint64(ehsize + phsize + len(code))
	le := binary.LittleEndian
	b := []byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	b = le.AppendUint16(b, 2) // ET_EXEC
	b = le.AppendUint16(b, machine)
	b = le.AppendUint32(b, 1)                  // EV_CURRENT
	b = le.AppendUint64(b, base+ehsize+phsize) // entry
	b = le.AppendUint64(b, ehsize)             // program headers
	b = le.AppendUint64(b, 0)                  // no section headers
	b = le.AppendUint32(b, 0)                  // flags
	b = le.AppendUint16(b, ehsize)             // header size
	b = le.AppendUint16(b, phsize)             // program header size
	b = le.AppendUint16(b, 1)                  // one program header
	b = append(b, 0, 0, 0, 0, 0, 0)            // no sections
	b = le.AppendUint32(b, 1)                  // PT_LOAD
	b = le.AppendUint32(b, 5)                  // R+X
	b = le.AppendUint64(b, 0)                  // offset
	b = le.AppendUint64(b, base)               // vaddr
	b = le.AppendUint64(b, base)               // paddr
	b = le.AppendUint64(b, size)               // file size
	b = le.AppendUint64(b, size)               // memory size
	b = le.AppendUint64(b, 0x1000)             // alignment
	return append(b, code...), nil
}
