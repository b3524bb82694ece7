// Key Vault (RBAC mode) holding the Twilio secrets (and the SMTP URL, which carries a password); the function app reads them through Key Vault references.
param name string
param location string = resourceGroup().location
param tags object = {}
@secure()
param twilioAuthToken string
@secure()
param twilioApiSecret string = ''
@secure()
param twilioAuthTokenSecondary string = ''
@secure()
param twilioWebhookSharedKeys string = ''
@secure()
param smtpUrl string = ''
param managedIdentityPrincipalId string

var keyVaultSecretsUserRoleDefinitionId = '4633458b-17de-408a-b874-0445c86b69e6' // Key Vault Secrets User role

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    publicNetworkAccess: 'Enabled'
  }
}

// Secret names allow only letters, digits and dashes, hence not the app setting names.
resource authTokenSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'twilio-auth-token'
  properties: {
    value: twilioAuthToken
    contentType: 'text/plain'
  }
}

resource apiSecretSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(twilioApiSecret)) {
  parent: vault
  name: 'twilio-api-secret'
  properties: {
    value: twilioApiSecret
    contentType: 'text/plain'
  }
}

// Optional: rotation of the Auth Token (Twilio's secondary token) and webhook SharedKeys (id:secret,...).
resource authTokenSecondarySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(twilioAuthTokenSecondary)) {
  parent: vault
  name: 'twilio-auth-token-secondary'
  properties: {
    value: twilioAuthTokenSecondary
    contentType: 'text/plain'
  }
}

resource webhookSharedKeysSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(twilioWebhookSharedKeys)) {
  parent: vault
  name: 'twilio-webhook-shared-keys'
  properties: {
    value: twilioWebhookSharedKeys
    contentType: 'text/plain'
  }
}

resource smtpUrlSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(smtpUrl)) {
  parent: vault
  name: 'smtp-url'
  properties: {
    value: smtpUrl
    contentType: 'text/plain'
  }
}

// Role assignment for Key Vault secrets - Managed Identity
resource secretsUserRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, managedIdentityPrincipalId, keyVaultSecretsUserRoleDefinitionId)
  scope: vault
  properties: {
    roleDefinitionId: resourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUserRoleDefinitionId)
    principalId: managedIdentityPrincipalId
    principalType: 'ServicePrincipal' // Managed Identity is a Service Principal
  }
}

output name string = vault.name
// Versionless URIs: the app picks up a rotated secret without a redeploy.
output twilioAuthTokenSecretUri string = authTokenSecret.properties.secretUri
output twilioApiSecretSecretUri string = '${vault.properties.vaultUri}secrets/twilio-api-secret'
output twilioAuthTokenSecondarySecretUri string = '${vault.properties.vaultUri}secrets/twilio-auth-token-secondary'
output twilioWebhookSharedKeysSecretUri string = '${vault.properties.vaultUri}secrets/twilio-webhook-shared-keys'
output smtpUrlSecretUri string = '${vault.properties.vaultUri}secrets/smtp-url'
