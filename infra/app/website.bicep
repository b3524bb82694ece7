// The storage account's static website endpoint (https://<account>.z<n>.web.core.windows.net/), where the number's
// fallback TwiML is served from, outside the Function App. The endpoint exists on every StorageV2 account; the
// postprovision hook (tools/azd_hooks.py) turns static website hosting on and uploads the two files into `$web`.
param storageAccountName string

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-01-01' existing = {
  name: storageAccountName
}

output webEndpoint string = storageAccount.properties.primaryEndpoints.web
