package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cri-shim/cri-shim/pkg/fsusage"
)

// ImageFsInfo reports the bytes and inodes of the image store and of the
// containers' writable layers.
func (s *Service) ImageFsInfo(ctx context.Context, _ *runtimeapi.ImageFsInfoRequest) (*runtimeapi.ImageFsInfoResponse, error) {
	images, err := s.deps.ImageFS(ctx)
	if err != nil {
		return nil, err
	}
	containers, err := s.deps.ContainerFS(ctx)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ImageFsInfoResponse{
		ImageFilesystems:     []*runtimeapi.FilesystemUsage{filesystemUsage(images)},
		ContainerFilesystems: []*runtimeapi.FilesystemUsage{filesystemUsage(containers)},
	}, nil
}

func filesystemUsage(u fsusage.Usage) *runtimeapi.FilesystemUsage {
	return &runtimeapi.FilesystemUsage{
		Timestamp:  u.Timestamp.UnixNano(),
		FsId:       &runtimeapi.FilesystemIdentifier{Mountpoint: u.Path},
		UsedBytes:  &runtimeapi.UInt64Value{Value: u.Bytes},
		InodesUsed: &runtimeapi.UInt64Value{Value: u.Inodes},
	}
}
