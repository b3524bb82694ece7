// The Event Grid topic the app publishes its CloudEvents to (docs/events.md), when main.bicep's eventGridTopic is on.
// Entra ID only (no access keys): the app's managed identity gets EventGrid Data Sender on this topic and nothing more.
param name string
param location string = resourceGroup().location
param tags object = {}
param managedIdentityPrincipalId string

var eventGridDataSenderRoleDefinitionId = 'd5a91429-5739-47e2-a06b-3470a27159e7' // EventGrid Data Sender role

resource topic 'Microsoft.EventGrid/topics@2025-02-15' = {
  name: name
  location: location
  tags: tags
  properties: {
    inputSchema: 'CloudEventSchemaV1_0' // the app posts structured-mode CloudEvents 1.0 batches
    disableLocalAuth: true // no access keys: a Microsoft Entra ID token or nothing
    publicNetworkAccess: 'Enabled'
    minimumTlsVersionAllowed: '1.2'
  }
}

resource senderRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(topic.id, managedIdentityPrincipalId, eventGridDataSenderRoleDefinitionId)
  scope: topic
  properties: {
    roleDefinitionId: resourceId('Microsoft.Authorization/roleDefinitions', eventGridDataSenderRoleDefinitionId)
    principalId: managedIdentityPrincipalId
    principalType: 'ServicePrincipal' // Managed Identity is a Service Principal
  }
}

output name string = topic.name
output endpoint string = topic.properties.endpoint
