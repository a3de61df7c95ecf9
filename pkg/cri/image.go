package cri

import (
	"context"
	"encoding/json"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cri-shim/cri-shim/pkg/errdefs"
)

// PullImage pulls the image the request names with the request's
// credentials and answers its ID (the config digest).
func (s *Service) PullImage(ctx context.Context, req *runtimeapi.PullImageRequest) (*runtimeapi.PullImageResponse, error) {
	ref := req.GetImage().GetImage()
	if ref == "" {
		return nil, fmt.Errorf("pull image: no image named: %w", errdefs.ErrInvalidArgument)
	}
	id, err := s.deps.Images.Pull(ctx, ref, credentials(req.GetAuth()))
	if err != nil {
		return nil, err
	}
	return &runtimeapi.PullImageResponse{ImageRef: id}, nil
}

// ImageStatus describes the image the request names; an absent image is
// an empty answer, not an error. Verbose adds the image config as JSON.
func (s *Service) ImageStatus(ctx context.Context, req *runtimeapi.ImageStatusRequest) (*runtimeapi.ImageStatusResponse, error) {
	ref := req.GetImage().GetImage()
	if ref == "" {
		return nil, fmt.Errorf("image status: no image named: %w", errdefs.ErrInvalidArgument)
	}
	if !req.GetVerbose() {
		img, err := s.deps.Images.Status(ctx, ref)
		if errdefs.IsNotFound(err) {
			return &runtimeapi.ImageStatusResponse{}, nil
		}
		if err != nil {
			return nil, err
		}
		return &runtimeapi.ImageStatusResponse{Image: criImage(img)}, nil
	}
	d, err := s.deps.Images.Inspect(ctx, ref)
	if errdefs.IsNotFound(err) {
		return &runtimeapi.ImageStatusResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	info, err := json.Marshal(verboseImageInfo{
		ID: d.ID, ManifestDigest: d.ManifestDigest.String(), ChainIDs: d.ChainIDs,
		Layers: d.Layers, Stored: d.Stored, ImageSpec: d.Config,
	})
	if err != nil {
		return nil, fmt.Errorf("image %s: verbose info: %w", d.ID, err)
	}
	return &runtimeapi.ImageStatusResponse{Image: criImage(&d.Image), Info: map[string]string{"info": string(info)}}, nil
}

// ListImages lists the stored images, or with a filter naming an image,
// that image alone (none if absent).
func (s *Service) ListImages(ctx context.Context, req *runtimeapi.ListImagesRequest) (*runtimeapi.ListImagesResponse, error) {
	if ref := req.GetFilter().GetImage().GetImage(); ref != "" {
		img, err := s.deps.Images.Status(ctx, ref)
		if errdefs.IsNotFound(err) {
			return &runtimeapi.ListImagesResponse{}, nil
		}
		if err != nil {
			return nil, err
		}
		return &runtimeapi.ListImagesResponse{Images: []*runtimeapi.Image{criImage(img)}}, nil
	}
	imgs, err := s.deps.Images.List(ctx)
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.ListImagesResponse{Images: make([]*runtimeapi.Image, 0, len(imgs))}
	for i := range imgs {
		resp.Images = append(resp.Images, criImage(&imgs[i]))
	}
	return resp, nil
}

// RemoveImage removes the image the request names with all its tags;
// removing an absent image succeeds.
func (s *Service) RemoveImage(ctx context.Context, req *runtimeapi.RemoveImageRequest) (*runtimeapi.RemoveImageResponse, error) {
	ref := req.GetImage().GetImage()
	if ref == "" {
		return nil, fmt.Errorf("remove image: no image named: %w", errdefs.ErrInvalidArgument)
	}
	if err := s.deps.Images.Remove(ctx, ref); err != nil {
		return nil, err
	}
	return &runtimeapi.RemoveImageResponse{}, nil
}
