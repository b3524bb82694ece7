// Switchboard on Azure Functions Flex Consumption, deployed with `azd up`.
// Layout and API versions follow the Azure-Samples Functions quickstarts (functions-quickstart-python-http-azd).
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the environment, used to generate a short unique hash used in all resources.')
param environmentName string

@minLength(1)
// Regions that offer Flex Consumption for Python (the Azure-Samples Flex quickstarts' list, less the EUAP canary
// region customers cannot use); `az functionapp list-flexconsumption-locations --runtime python` says today's.
@description('Primary location for all resources & the Flex Consumption Function App')
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({
  azd: {
    type: 'location'
  }
})
param location string
param apiServiceName string = ''
param apiUserAssignedIdentityName string = ''
param applicationInsightsName string = ''
param appServicePlanName string = ''
param logAnalyticsName string = ''
param resourceGroupName string = ''
param storageAccountName string = ''
param keyVaultName string = ''
@description('Object id of whoever runs azd (azd passes AZURE_PRINCIPAL_ID). It gets deployerDataAccess\'s roles when that is on, and always write access to the $web container only (the fallback TwiML).')
param principalId string = ''

@description('Kind of principalId: User (azd from a terminal), ServicePrincipal (azd from CI) or Group. azd 1.17.1+ passes AZURE_PRINCIPAL_TYPE; empty means User.')
param principalType string = ''

@description('Give the deployer data access (read and write every record, recording and SMS; Key Vault secrets; telemetry): for a development deployment. Off for production (the default): the app\'s identity is then the only reader of personal data. See docs/deploy.md.')
param deployerDataAccess bool = false

@minLength(34)
@maxLength(34)
@description('Your Twilio account SID (AC...).')
param twilioAccountSid string

@description('Default caller ID and SMS sender, in E.164 (+15551234567).')
param twilioPhoneNumber string

@secure()
@minLength(1)
@description('Your Twilio auth token. Stored in Key Vault; it signs the webhooks Twilio sends.')
param twilioAuthToken string

@description('Optional Twilio API key SID (SK...) for REST calls; leave empty to use the auth token.')
param twilioApiKey string = ''

@secure()
@description('Secret of the Twilio API key. Stored in Key Vault. Give it with twilioApiKey, or leave both empty.')
param twilioApiSecret string = ''

@secure()
@description('Optional: Twilio\'s secondary Auth Token, accepted on webhooks during a token rotation')
param twilioAuthTokenSecondary string = ''

@secure()
@description('Optional: webhook SharedKeys as <key id>:<secret>,<key id>:<secret> (TWILIO_WEBHOOK_SHARED_KEYS)')
param twilioWebhookSharedKeys string = ''

// A comma-separated string, not an array: azd releases before 1.23.4 pass an array parameter from an environment
// variable to ARM as the string "[]", which ARM refuses.
@description('Object IDs of other apps\' identities (or users, groups) that may enqueue outbound messages, comma-separated: each gets Storage Queue Data Message Sender on the outbound queue only.')
param producerPrincipalIds string = ''

@secure()
@description('Optional SMTP server for voicemail e-mail, smtp://user:password@host:587 (STARTTLS). Stored in Key Vault.')
param smtpUrl string = ''

@description('Sender address of voicemail e-mail; needed with smtpUrl.')
param emailFrom string = ''

@description('Delete records, their events and blobs older than this many days (0: keep forever). See docs/data.md.')
param retentionDays int = 0

@description('Delete a recording or MMS media item at Twilio once its copy is in Blob Storage and checked.')
param deleteRecordingsAtTwilio bool = false

// Flex Consumption scales each non-HTTP function (the outbound queue among them) on its own, up to this many instances
// each; every instance has up to batchSize + newBatchThreshold (host.json: 8 + 4) messages in flight. See docs/operate.md.
@minValue(1)
@maxValue(1000)
@description('Most instances Flex Consumption may run per function group: keep instances x 12 in-flight sends below your Twilio account\'s concurrency (docs/operate.md).')
param maximumInstanceCount int = 4

@minValue(0)
@maxValue(20)
@description('Always-ready instances for the HTTP functions (the webhooks): 0 scales to zero (cold starts); 1 keeps one warm, billed while idle.')
param alwaysReadyHttpInstances int = 0

@description('E-mail address the alerts go to (poison queue, dead-lettered or unknown records, failure rate, /api/health). Empty: the alert rules exist and show in the portal, but nobody is mailed.')
param alertEmail string = ''

@minValue(0)
@maxValue(365)
@description('Days a deleted blob (a recording or MMS media item removed by retention or erasure) stays recoverable by an account administrator; 0 turns blob soft delete off. See docs/data.md, Erasure.')
param blobSoftDeleteDays int = 7

var abbrs = loadJsonContent('./abbreviations.json')
var deployerType = empty(principalType) ? 'User' : (contains(['User', 'ServicePrincipal', 'Group'], principalType) ? principalType : fail('principalType (AZURE_PRINCIPAL_TYPE) must be User, ServicePrincipal or Group.'))
var producers = filter(map(split(producerPrincipalIds, ','), id => trim(id)), id => !empty(id))
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var resourceGroupNameResolved = !empty(resourceGroupName) ? resourceGroupName : '${abbrs.resourcesResourceGroups}${environmentName}'
var storageAccountNameResolved = !empty(storageAccountName) ? storageAccountName : '${abbrs.storageStorageAccounts}${resourceToken}'
var functionAppName = !empty(apiServiceName) ? apiServiceName : '${abbrs.webSitesFunctions}api-${resourceToken}'
var deploymentStorageContainerName = 'app-package-${take(functionAppName, 32)}-${take(toLower(uniqueString(functionAppName, resourceToken)), 7)}'
// The public origin Twilio calls; webhook signatures are checked against it. It cannot come from the site's
// own defaultHostname output (the site would depend on itself); /api/health says when the two differ.
var publicBaseUrl = 'https://${functionAppName}.azurewebsites.net'
// Every queue, table and blob container the app uses (switchboard/adapters/inventory.py), created here so the app
// never meets a missing one. tests/test_infra_settings.py checks these lists against the code: a new
// queue, table or container is one line in one of them.
var queueNames = [
  'outbound' // part of the message contract (docs/outbound.md)
  'outbound-poison' // where the host moves a message that failed maxDequeueCount times
  'outbound-poison-poison' // where it moves a poison message it cannot decode; swept by outbound_undecodable
  'voicemail-email' // the voicemail twimlet's Email, sent once per recording (switchboard/mail/delivery.py)
  'voicemail-email-poison' // an e-mail that failed maxDequeueCount times waits here
  'media-downloads' // copies of recordings and MMS media into Blob Storage (docs/data.md)
  'media-downloads-poison' // copies that failed maxDequeueCount times: noted on the record, Twilio's copy kept
  'media-downloads-poison-poison' // where the host moves a poison copy whose noting itself kept failing
  'events' // CloudEvents for the apps Switchboard serves (docs/events.md; EVENTS_QUEUE)
]
var tableNames = [
  'records'
  'optouts'
  'mailsent' // one row per voicemail e-mail: a repeated callback sends no second one
  'pacing' // one row per sender (and one for calls): the slots leased at OUTBOUND_*_PER_SECOND (docs/outbound.md)
  'limits' // the OUTBOUND_LIMITS counters and the auto-reply throttle, keyed by a hash of the number (docs/outbound.md)
]
var containerNames = [
  'holdmusic' // private: the holdmusic twimlet links its files with user-delegation SAS
  'recordings' // private: the user's copies of call recordings, played through GET /api/media only
  'media' // private: the user's copies of inbound MMS media
]
// An API key without its secret (or a secret without its key) would sign every REST call wrongly: both or neither.
var useTwilioApiKey = empty(twilioApiKey) && empty(twilioApiSecret) ? false : (!empty(twilioApiKey) && !empty(twilioApiSecret) ? true : fail('twilioApiKey (TWILIO_API_KEY) and twilioApiSecret (TWILIO_API_SECRET) go together: set both, or neither.'))

// Organize resources in a resource group
resource rg 'Microsoft.Resources/resourceGroups@2021-04-01' = {
  name: resourceGroupNameResolved
  location: location
  tags: tags
}

// User assigned managed identity used by the function app to reach storage, Key Vault and Application Insights
module apiUserAssignedIdentity 'br/public:avm/res/managed-identity/user-assigned-identity:0.4.1' = {
  name: 'apiUserAssignedIdentity'
  scope: rg
  params: {
    location: location
    tags: tags
    name: !empty(apiUserAssignedIdentityName) ? apiUserAssignedIdentityName : '${abbrs.managedIdentityUserAssignedIdentities}api-${resourceToken}'
  }
}

// Flex Consumption plan
module appServicePlan 'br/public:avm/res/web/serverfarm:0.1.1' = {
  name: 'appserviceplan'
  scope: rg
  params: {
    name: !empty(appServicePlanName) ? appServicePlanName : '${abbrs.webServerFarms}${resourceToken}'
    sku: {
      name: 'FC1'
      tier: 'FlexConsumption'
    }
    reserved: true
    location: location
    tags: tags
  }
}

// Secrets live in Key Vault; app settings hold Key Vault references, never the values.
module keyVault './app/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: !empty(keyVaultName) ? keyVaultName : '${abbrs.keyVaultVaults}${resourceToken}'
    location: location
    tags: tags
    twilioAuthToken: twilioAuthToken
    twilioApiSecret: useTwilioApiKey ? twilioApiSecret : ''
    twilioAuthTokenSecondary: twilioAuthTokenSecondary
    twilioWebhookSharedKeys: twilioWebhookSharedKeys
    smtpUrl: smtpUrl
    managedIdentityPrincipalId: apiUserAssignedIdentity.outputs.principalId
  }
}

module api './app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    location: location
    tags: tags
    applicationInsightsName: monitoring.outputs.name
    appServicePlanId: appServicePlan.outputs.resourceId
    runtimeName: 'python'
    runtimeVersion: '3.12'
    storageAccountName: storage.outputs.name
    deploymentStorageContainerName: deploymentStorageContainerName
    identityId: apiUserAssignedIdentity.outputs.resourceId
    identityClientId: apiUserAssignedIdentity.outputs.clientId
    maximumInstanceCount: maximumInstanceCount
    alwaysReadyHttpInstances: alwaysReadyHttpInstances
    // Every setting infra/ manages is always written, empty when unused: the AVM site module merges the app
    // settings it is given with the site's current ones, so a setting left out would stay in force (a retired
    // TWILIO_AUTH_TOKEN_SECONDARY, say). The app reads an empty setting as unset. Settings added by hand, which
    // infra/ does not name, are kept.
    appSettings: {
      TWILIO_ACCOUNT_SID: twilioAccountSid
      TWILIO_PHONE_NUMBER: twilioPhoneNumber
      TWILIO_AUTH_TOKEN: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.twilioAuthTokenSecretUri})'
      TWILIO_API_KEY: useTwilioApiKey ? twilioApiKey : ''
      TWILIO_API_SECRET: useTwilioApiKey ? '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.twilioApiSecretSecretUri})' : ''
      TWILIO_AUTH_TOKEN_SECONDARY: empty(twilioAuthTokenSecondary) ? '' : '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.twilioAuthTokenSecondarySecretUri})'
      TWILIO_WEBHOOK_SHARED_KEYS: empty(twilioWebhookSharedKeys) ? '' : '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.twilioWebhookSharedKeysSecretUri})'
      // The SMTP URL carries the SMTP password: a Key Vault reference, like the Twilio secrets.
      SMTP_URL: empty(smtpUrl) ? '' : '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.smtpUrlSecretUri})'
      EMAIL_FROM: emailFrom
      VOICEMAIL_EMAIL_ATTACH_MAX_BYTES: '5000000'
      PUBLIC_BASE_URL: publicBaseUrl
      TWILIO_FALLBACK_BASE_URL: fallbackBaseUrl
      WEBHOOK_VALIDATION: 'true'
      RECORDINGS_CONTAINER: 'recordings'
      MEDIA_CONTAINER: 'media'
      DELETE_RECORDINGS_AT_TWILIO: deleteRecordingsAtTwilio ? 'true' : 'false'
      RETENTION_DAYS: retentionDays > 0 ? string(retentionDays) : ''
    }
  }
  dependsOn: [
    rbac
  ]
}

// Backing storage: the host (AzureWebJobsStorage), the deployment package, the outbound queues and the records tables
module storage 'br/public:avm/res/storage/storage-account:0.8.3' = {
  name: 'storage'
  scope: rg
  params: {
    name: storageAccountNameResolved
    // Locally redundant: the data stays in the region docs/data.md promises (the module's default, GRS, copies it
    // to the paired region).
    skuName: 'Standard_LRS'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false // Identity-based connections only: no account keys anywhere
    allowCrossTenantReplication: false // no object replication to an account in another tenant
    defaultToOAuthAuthentication: true // the portal opens data with Microsoft Entra ID, not keys (which are off)
    dnsEndpointType: 'Standard'
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    blobServices: {
      containers: concat([{name: deploymentStorageContainerName}], map(containerNames, container => {name: container}))
      // Set on purpose (docs/data.md, Erasure): a blob deleted by retention or erasure stays recoverable by an account
      // administrator for blobSoftDeleteDays, then is gone; 0 makes deletes final at once.
      deleteRetentionPolicyEnabled: blobSoftDeleteDays > 0
      deleteRetentionPolicyDays: max(blobSoftDeleteDays, 1)
      containerDeleteRetentionPolicyEnabled: true
      containerDeleteRetentionPolicyDays: 7
    }
    queueServices: {
      queues: map(queueNames, queue => {name: queue})
    }
    minimumTlsVersion: 'TLS1_2'  // Enforcing TLS 1.2 for better security
    location: location
    tags: tags
  }
}

// The records tables, created up front like the queues (the app would otherwise create them on first use)
module tables 'app/tables.bicep' = {
  name: 'tables'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    tableNames: tableNames
  }
}

// The storage account's static website endpoint: the fallback TwiML lives there, outside the Function App.
module website 'app/website.bicep' = {
  name: 'website'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
  }
}
// Twilio fetches these (GET) when the app does not answer; `python -m switchboard twilio configure` sets them on the
// number, and the postprovision hook uploads the files (tools/azd_hooks.py).
var fallbackBaseUrl = website.outputs.webEndpoint

// Consolidated Role Assignments
module rbac 'app/rbac.bicep' = {
  name: 'rbacAssignments'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    appInsightsName: monitoring.outputs.name
    keyVaultName: keyVault.outputs.name
    managedIdentityPrincipalId: apiUserAssignedIdentity.outputs.principalId
    deployerPrincipalId: principalId
    deployerPrincipalType: deployerType
    deployerDataAccess: deployerDataAccess
    outboundQueueName: queueNames[0]
    producerPrincipalIds: producers
  }
}

// Monitor application with Azure Monitor - Log Analytics and Application Insights
module logAnalytics 'br/public:avm/res/operational-insights/workspace:0.7.0' = {
  name: '${uniqueString(deployment().name, location)}-loganalytics'
  scope: rg
  params: {
    name: !empty(logAnalyticsName) ? logAnalyticsName : '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    location: location
    tags: tags
    dataRetention: 30
  }
}

module monitoring 'br/public:avm/res/insights/component:0.4.1' = {
  name: '${uniqueString(deployment().name, location)}-appinsights'
  scope: rg
  params: {
    name: !empty(applicationInsightsName) ? applicationInsightsName : '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
    workspaceResourceId: logAnalytics.outputs.resourceId
    disableLocalAuth: true
    disableIpMasking: false // the module's default (true) would store every client's IP address
  }
}

// Alerts (docs/operate.md, Alerts): an action group mailing alertEmail, an availability test of /api/health with
// its own key, and log alerts on what the app logs.
module alerts 'app/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    appInsightsName: monitoring.outputs.name
    functionAppName: api.outputs.SERVICE_API_NAME
    healthUrl: '${siteUrl}/api/health'
    alertEmail: alertEmail
  }
}

// App outputs (azd stores them in the environment; the postprovision hook prints the webhook URLs)
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output SERVICE_API_NAME string = api.outputs.SERVICE_API_NAME
output AZURE_FUNCTION_NAME string = api.outputs.SERVICE_API_NAME
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output PUBLIC_BASE_URL string = publicBaseUrl
// The URLs to use come from the host name Azure gave the site.
var siteUrl = 'https://${api.outputs.SERVICE_API_HOSTNAME}'
output SWITCHBOARD_API_URL string = siteUrl
output SWITCHBOARD_OUTBOUND_QUEUE_URL string = 'https://${storage.outputs.name}.queue.${environment().suffixes.storage}/${queueNames[0]}'
output TWILIO_VOICE_WEBHOOK_URL string = '${siteUrl}/api/voice/incoming'
output TWILIO_SMS_WEBHOOK_URL string = '${siteUrl}/api/sms/incoming'
output TWILIO_VOICE_STATUS_CALLBACK_URL string = '${siteUrl}/api/voice/status'
output TWILIO_SMS_STATUS_CALLBACK_URL string = '${siteUrl}/api/sms/status'
output SWITCHBOARD_DASHBOARD_URL string = '${siteUrl}/api/dashboard'
output SWITCHBOARD_HEALTH_URL string = '${siteUrl}/api/health'
output TWILIO_FALLBACK_BASE_URL string = fallbackBaseUrl
output TWILIO_VOICE_FALLBACK_URL string = '${fallbackBaseUrl}voice-fallback.xml'
output TWILIO_SMS_FALLBACK_URL string = '${fallbackBaseUrl}sms-fallback.xml'
