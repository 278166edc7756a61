package cloud

import "infrakit.aliyun/internal/testutil"

// The standard-library assertions shared with the other packages' tests.
var (
	noErr       = testutil.NoErr
	equal       = testutil.Equal
	contains    = testutil.Contains
	notContains = testutil.NotContains
)
