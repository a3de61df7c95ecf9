//go:build nri_no_wasm

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
	"fmt"

	"github.com/containerd/nri/pkg/api"
)

func getWasmService() (*api.PluginPlugin, error) {
	return nil, ErrWasmDisabled
}

// loadWasm is the one call of the WASM host's Load (cri-shim's change):
// here, without WASM, nothing references it, so the linker drops the host
// and the protobuf code only it uses.
func loadWasm(_ *api.PluginPlugin, path string) (api.Plugin, error) {
	return nil, fmt.Errorf("can't load WASM plugin %s: %w", path, ErrWasmDisabled)
}
