package gateway_test

import . "github.com/govgate/govgate/gateway"

// The end-to-end tests are in package gateway_test because they run the stage adapters
// (gateway/decide, gateway/record, gateway/identity), which import gateway; they read
// the fixtures and helpers of package gateway's own tests under these names.

const taxpayerJSON = TaxpayerJSON

var gzipBomb = GzipBomb

var testConfig = ConfigForTest
