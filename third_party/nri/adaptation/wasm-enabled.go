//go:build !nri_no_wasm

/*
   Copyright The containerd Authors.

   Licensed under the Apache License, Version 2.0 (the "License");
   you may not use this file except in compliance with the License.
   You may obtain a copy of the License at

       http://www.apache.org/licenses/LICENSE-2.0

   Unless required by applicable law or agreed to in writing, software
   distributed under the License is distributed on an "AS IS" BASIS,
   WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
   See the License for the specific language governing permissions and
   limitations under the License.
*/

package adaptation

import (
	"context"
	"fmt"

	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/log"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

func getWasmService() (*api.PluginPlugin, error) {
	wasmWithCloseOnContextDone := func(ctx context.Context) (wazero.Runtime, error) {
		var (
			cfg = wazero.NewRuntimeConfig().WithCloseOnContextDone(true)
			r   = wazero.NewRuntimeWithConfig(ctx, cfg)
		)
		if _, err := wasi_snapshot_preview1.Instantiate(ctx, r); err != nil {
			return nil, err
		}
		return r, nil
	}

	wasmPlugins, err := api.NewPluginPlugin(
		context.Background(),
		api.WazeroRuntime(wasmWithCloseOnContextDone),
	)
	if err != nil {
		return nil, fmt.Errorf("unable to initialize WASM service: %w", err)
	}

	return wasmPlugins, nil
}

// loadWasm is the one call of the WASM host's Load (cri-shim's change).
func loadWasm(s *api.PluginPlugin, path string) (api.Plugin, error) {
	return s.Load(context.Background(), path, wasmHostFunctions{})
}

// wasmHostFunctions implements the webassembly host functions
type wasmHostFunctions struct{}

func (wasmHostFunctions) Log(ctx context.Context, request *api.LogRequest) (*api.Empty, error) {
	switch request.GetLevel() {
	case api.LogRequest_LEVEL_INFO:
		log.Infof(ctx, request.GetMsg())
	case api.LogRequest_LEVEL_WARN:
		log.Warnf(ctx, request.GetMsg())
	case api.LogRequest_LEVEL_ERROR:
		log.Errorf(ctx, request.GetMsg())
	default:
		log.Debugf(ctx, request.GetMsg())
	}

	return &api.Empty{}, nil
}
