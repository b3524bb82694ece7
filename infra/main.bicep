// Switchboard on Azure Functions Flex Consumption, deployed with `azd up`.
// Layout and API versions follow the Azure-Samples Functions quickstarts (functions-quickstart-python-http-azd).
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the environment, used to generate a short unique hash used in all resources.')
param environmentName string

@minLength(1)
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
  'eastus2euap'
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
@description('Id of the user identity to be used for testing and debugging. This is not required in production. Leave empty if not needed.')
param principalId string = ''

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

@description('Object IDs of other apps\' identities (or users, groups) that may enqueue outbound messages: each gets Storage Queue Data Message Sender on the storage account.')
param producerPrincipalIds array = []

@secure()
@description('Optional SMTP server for voicemail e-mail, smtp://user:password@host:587 (STARTTLS). Stored in Key Vault.')
param smtpUrl string = ''

@description('Sender address of voicemail e-mail; needed with smtpUrl.')
param emailFrom string = ''

@description('Delete records, their events and blobs older than this many days (0: keep forever). See docs/data.md.')
param retentionDays int = 0

@description('Delete a recording or MMS media item at Twilio once its copy is in Blob Storage and checked.')
param deleteRecordingsAtTwilio bool = false

var abbrs = loadJsonContent('./abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
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
]
var tableNames = [
  'records'
  'optouts'
  'mailsent' // one row per voicemail e-mail: a repeated callback sends no second one
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
  name: !empty(resourceGroupName) ? resourceGroupName : '${abbrs.resourcesResourceGroups}${environmentName}'
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
    appSettings: union(
      {
        TWILIO_ACCOUNT_SID: twilioAccountSid
        TWILIO_PHONE_NUMBER: twilioPhoneNumber
        TWILIO_AUTH_TOKEN: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.twilioAuthTokenSecretUri})'
        PUBLIC_BASE_URL: publicBaseUrl
        WEBHOOK_VALIDATION: 'true'
        RECORDINGS_CONTAINER: 'recordings'
        MEDIA_CONTAINER: 'media'
        DELETE_RECORDINGS_AT_TWILIO: deleteRecordingsAtTwilio ? 'true' : 'false'
      },
      retentionDays > 0 ? { RETENTION_DAYS: string(retentionDays) } : {},
      !useTwilioApiKey ? {} : {
        TWILIO_API_KEY: twilioApiKey
        TWILIO_API_SECRET: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.twilioApiSecretSecretUri})'
      },
      empty(twilioAuthTokenSecondary) ? {} : {
        TWILIO_AUTH_TOKEN_SECONDARY: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.twilioAuthTokenSecondarySecretUri})'
      },
      empty(twilioWebhookSharedKeys) ? {} : {
        TWILIO_WEBHOOK_SHARED_KEYS: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.twilioWebhookSharedKeysSecretUri})'
      },
      // The SMTP URL carries the SMTP password: a Key Vault reference, like the Twilio secrets.
      empty(smtpUrl) ? {} : {
        SMTP_URL: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.smtpUrlSecretUri})'
        EMAIL_FROM: emailFrom
        VOICEMAIL_EMAIL_ATTACH_MAX_BYTES: '5000000'
      }
    )
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
    name: !empty(storageAccountName) ? storageAccountName : '${abbrs.storageStorageAccounts}${resourceToken}'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false // Identity-based connections only: no account keys anywhere
    dnsEndpointType: 'Standard'
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    blobServices: {
      containers: concat([{name: deploymentStorageContainerName}], map(containerNames, container => {name: container}))
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

// Define the configuration object locally to pass to the modules
var storageEndpointConfig = {
  enableBlob: true  // AzureWebJobsStorage (host locks, keys) and the Flex deployment package
  enableQueue: true  // the outbound queue trigger and producers
  enableTable: true  // call and message records
  allowUserIdentityPrincipal: true   // Allow interactive user identity to access for testing and debugging
}

// Consolidated Role Assignments
module rbac 'app/rbac.bicep' = {
  name: 'rbacAssignments'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    appInsightsName: monitoring.outputs.name
    managedIdentityPrincipalId: apiUserAssignedIdentity.outputs.principalId
    userIdentityPrincipalId: principalId
    enableBlob: storageEndpointConfig.enableBlob
    enableQueue: storageEndpointConfig.enableQueue
    enableTable: storageEndpointConfig.enableTable
    allowUserIdentityPrincipal: storageEndpointConfig.allowUserIdentityPrincipal
    producerPrincipalIds: producerPrincipalIds
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
  }
}

// App outputs (azd stores them in the environment; the postprovision hook prints the webhook URLs)
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
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
