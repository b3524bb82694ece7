// Role assignments: the app's managed identity on storage, Key Vault and Application Insights; the deployer's (only
// with deployerDataAccess, apart from the fallback TwiML's container); and the producers' on the outbound queue.
param storageAccountName string
param appInsightsName string
param keyVaultName string
param managedIdentityPrincipalId string // Principal ID for the Managed Identity
param deployerPrincipalId string = '' // whoever runs azd (AZURE_PRINCIPAL_ID)
@allowed(['User', 'ServicePrincipal', 'Group'])
param deployerPrincipalType string = 'User' // AZURE_PRINCIPAL_TYPE: ServicePrincipal when azd runs in CI
param deployerDataAccess bool = false // main.bicep's parameter: data-plane roles for the deployer
param outboundQueueName string = 'outbound'
param producerPrincipalIds array = [] // Other apps' identities that may enqueue outbound messages

// Role Definition IDs
var storageRoleDefinitionId  = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner role (host and Flex deployment package)
var blobContributorRoleDefinitionId = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe' // Storage Blob Data Contributor role
var queueRoleDefinitionId = '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // Storage Queue Data Contributor role
var tableRoleDefinitionId = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Storage Table Data Contributor role
var queueSenderRoleDefinitionId = 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a' // Storage Queue Data Message Sender role
var monitoringRoleDefinitionId = '3913510d-42f4-4e42-8a64-420c390055eb' // Monitoring Metrics Publisher role ID
var keyVaultSecretsOfficerRoleDefinitionId = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7' // Key Vault Secrets Officer role

var appRoles = [storageRoleDefinitionId, queueRoleDefinitionId, tableRoleDefinitionId]
var deployerStorageRoles = deployerDataAccess && !empty(deployerPrincipalId) ? appRoles : []
// The deployer writes the fallback TwiML into `$web` (tools/azd_hooks.py): Blob Data Contributor, limited by an
// ABAC condition to that one container, so it reads no recording or MMS media.
var webContainerOnly = '((!(ActionMatches{\'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read\'}) AND !(ActionMatches{\'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write\'}) AND !(ActionMatches{\'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete\'}) AND !(ActionMatches{\'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action\'}) AND !(ActionMatches{\'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/move/action\'})) OR (@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] StringEquals \'$web\'))'

resource storageAccount 'Microsoft.Storage/storageAccounts@2022-09-01' existing = {
  name: storageAccountName
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-01-01' existing = {
  parent: storageAccount
  name: 'default'
}

resource outboundQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-01-01' existing = {
  parent: queueService
  name: outboundQueueName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

// The app's identity: blob (host, deployment package, recordings), queue and table data on the storage account
resource appStorageRoleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in appRoles: {
  name: guid(storageAccount.id, managedIdentityPrincipalId, role)
  scope: storageAccount
  properties: {
    roleDefinitionId: resourceId('Microsoft.Authorization/roleDefinitions', role)
    principalId: managedIdentityPrincipalId
    principalType: 'ServicePrincipal' // Managed Identity is a Service Principal
  }
}]

// The deployer, only with deployerDataAccess (a development deployment): the same data roles as the app
resource deployerStorageRoleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in deployerStorageRoles: {
  name: guid(storageAccount.id, deployerPrincipalId, role)
  scope: storageAccount
  properties: {
    roleDefinitionId: resourceId('Microsoft.Authorization/roleDefinitions', role)
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
}]

// The deployer, always: write the fallback TwiML into `$web`, and nothing else in blob storage
resource deployerWebRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(storageAccount.id, deployerPrincipalId, blobContributorRoleDefinitionId, '$web')
  scope: storageAccount
  properties: {
    roleDefinitionId: resourceId('Microsoft.Authorization/roleDefinitions', blobContributorRoleDefinitionId)
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
    conditionVersion: '2.0'
    condition: webContainerOnly
  }
}

// Producers: send messages to the outbound queue, nothing else (no other queue; no reading, peeking or deleting)
resource producerQueueSenderRoleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for producerPrincipalId in producerPrincipalIds: {
  name: guid(outboundQueue.id, producerPrincipalId, queueSenderRoleDefinitionId)
  scope: outboundQueue
  properties: {
    roleDefinitionId: resourceId('Microsoft.Authorization/roleDefinitions', queueSenderRoleDefinitionId)
    principalId: producerPrincipalId // principalType left out: an app's identity, a user or a group
  }
}]

// Role assignment for Application Insights - Managed Identity
resource appInsightsRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, managedIdentityPrincipalId, monitoringRoleDefinitionId)
  scope: applicationInsights
  properties: {
    roleDefinitionId: resourceId('Microsoft.Authorization/roleDefinitions', monitoringRoleDefinitionId)
    principalId: managedIdentityPrincipalId
    principalType: 'ServicePrincipal' // Managed Identity is a Service Principal
  }
}

// The deployer, only with deployerDataAccess: publish telemetry from a local run against the deployed resources
resource appInsightsRoleAssignment_Deployer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (deployerDataAccess && !empty(deployerPrincipalId)) {
  name: guid(applicationInsights.id, deployerPrincipalId, monitoringRoleDefinitionId)
  scope: applicationInsights
  properties: {
    roleDefinitionId: resourceId('Microsoft.Authorization/roleDefinitions', monitoringRoleDefinitionId)
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
}

// The deployer, only with deployerDataAccess: read and set the Key Vault secrets directly (the azd environment still
// owns them: the next `azd provision` writes its values back, docs/security.md, Rotate tokens and keys)
resource keyVaultRoleAssignment_Deployer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (deployerDataAccess && !empty(deployerPrincipalId)) {
  name: guid(vault.id, deployerPrincipalId, keyVaultSecretsOfficerRoleDefinitionId)
  scope: vault
  properties: {
    roleDefinitionId: resourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficerRoleDefinitionId)
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
}
