#!/bin/sh
# azd postdeploy hook: subscribe the blob trigger to Event Grid. scripts/postdeploy.ps1 does the
# same steps for Windows shells; change both together.
#
# This hook is the only owner of the Event Grid subscription: main.bicep never declares it. The
# subscription delivers to the blob extension's webhook, and that webhook's key
# (blobs_extension) is created by the Functions host the first time it loads the blob trigger,
# that is, only once the code is deployed; Event Grid also calls the endpoint to validate it
# when the subscription is made. So provisioning cannot own it (after `azd down` + `azd up`, or
# for a recreated app with no code yet, the key does not exist), and the hook makes it after
# every deploy instead: deploying infra/app/eventgrid-subscription.bicep again with the same
# name and properties changes nothing, so running it each time is safe. The template reads the
# key inside ARM, so it never passes through this script.
#
# Before waiting for anything it checks, and reports at once with what to do: az present, signed
# in, the subscription azd uses visible, the right to read the resource group's Event Grid topics.
#
# azd runs it after `azd up` / `azd deploy` with the deployment's outputs in the environment.
# To run it by hand: azd hooks run postdeploy (or eval "$(azd env get-values)" and sh this file).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
wait_attempts=${HRUPLOAD_KEY_WAIT_ATTEMPTS:-30}
wait_seconds=${HRUPLOAD_KEY_WAIT_SECONDS:-10}
retry="then run 'azd hooks run postdeploy'"

missing=""
for name in AZURE_RESOURCE_GROUP AZURE_FUNCTION_APP_NAME \
    HR_STORAGE_ACCOUNT_NAME HR_INCOMING_CONTAINER HR_DEAD_LETTER_CONTAINER \
    HR_EVENTGRID_SYSTEM_TOPIC_NAME HR_BLOB_FUNCTION_NAME; do
    eval "value=\${$name:-}"
    [ -n "$value" ] || missing="$missing $name"
done
if [ -n "$missing" ]; then
    echo "postdeploy: not set:$missing. Run through azd (azd deploy), or export them from 'azd env get-values'." >&2
    exit 2
fi

if ! command -v az >/dev/null 2>&1; then
    echo "postdeploy: the Azure CLI (az) is needed to create the Event Grid subscription." >&2
    echo "Install it, run 'az login', $retry (docs/deploy.md)." >&2
    exit 1
fi

err=$(mktemp)
trap 'rm -f "$err"' EXIT

# Why the last az call failed, as one line that says what to do; "" when it is none of these
# (then the caller waits or reports az's own error). Only ARM's error codes count: a function
# host that is still starting answers with other errors, and the key loop waits those out.
explain() {
    if grep -q -e AuthorizationFailed -e 'does not have authorization' "$err"; then
        echo "postdeploy: the signed-in account may not $1 in resource group $AZURE_RESOURCE_GROUP (AuthorizationFailed): it needs Contributor there (Owner, or Contributor plus Role Based Access Control Administrator, for 'azd provision'); ask for it, $retry."
    elif grep -q -e "az login" -e AADSTS "$err"; then
        echo "postdeploy: the Azure CLI's sign-in is missing or expired: run 'az login', $retry."
    elif grep -q -e ResourceGroupNotFound -e ResourceNotFound "$err"; then
        echo "postdeploy: $2 does not exist in resource group $AZURE_RESOURCE_GROUP: run 'azd provision' (or 'azd up'), $retry."
    fi
}

# 1. Signed in at all.
if ! az account show --query id --output tsv >/dev/null 2>"$err"; then
    echo "postdeploy: the Azure CLI is not signed in: run 'az login' (a pipeline: 'az login --service-principal ...'), $retry." >&2
    exit 1
fi

# 2. The subscription azd deployed to, visible to that sign-in.
if [ -n "${AZURE_SUBSCRIPTION_ID:-}" ]; then
    if ! az account show --subscription "$AZURE_SUBSCRIPTION_ID" --query id --output tsv >/dev/null 2>"$err"; then
        echo "postdeploy: subscription $AZURE_SUBSCRIPTION_ID (azd's AZURE_SUBSCRIPTION_ID) is not one the Azure CLI's sign-in can use: 'az login --tenant <tenant of that subscription>' with an account that has access, $retry." >&2
        exit 1
    fi
    set -- --subscription "$AZURE_SUBSCRIPTION_ID"
else
    echo "postdeploy: AZURE_SUBSCRIPTION_ID is not set; using the Azure CLI's current subscription (az account set changes it)."
    set --
fi

# 3. The right to read the group, and which system topic the HR account has: the one main.bicep
#    made, or one Defender for Storage made first (an account has at most one).
if ! topic=$(az eventgrid system-topic list "$@" --resource-group "$AZURE_RESOURCE_GROUP" \
    --query "[?ends_with(source, '/$HR_STORAGE_ACCOUNT_NAME')].name | [0]" \
    --output tsv 2>"$err"); then
    why=$(explain "read Event Grid topics" "The resource group")
    echo "${why:-postdeploy: could not list the Event Grid system topics in $AZURE_RESOURCE_GROUP: $(head -n 1 "$err")}" >&2
    exit 1
fi
if [ -z "$topic" ]; then
    echo "postdeploy: storage account $HR_STORAGE_ACCOUNT_NAME has no Event Grid system topic in $AZURE_RESOURCE_GROUP: run 'azd provision', $retry." >&2
    exit 1
fi
if [ "$topic" != "$HR_EVENTGRID_SYSTEM_TOPIC_NAME" ]; then
    echo "postdeploy: $HR_STORAGE_ACCOUNT_NAME already has the system topic $topic (Defender for Storage makes one); subscribing on it, and recording it for the next provision (HRUPLOAD_EXISTING_SYSTEM_TOPIC_NAME)."
    if command -v azd >/dev/null 2>&1; then
        azd env set ${AZURE_ENV_NAME:+--environment "$AZURE_ENV_NAME"} HRUPLOAD_EXISTING_SYSTEM_TOPIC_NAME "$topic"
    fi
fi

# 4. The blob extension key, which the host creates once it has loaded the code.
attempt=1
while :; do
    # Asks only whether the key exists: its value is never printed or kept. (The backticks are
    # a JMESPath literal, not a shell expansion.)
    # shellcheck disable=SC2016
    if has_key=$(az functionapp keys list "$@" \
        --resource-group "$AZURE_RESOURCE_GROUP" --name "$AZURE_FUNCTION_APP_NAME" \
        --query 'systemKeys.blobs_extension != `null`' --output tsv 2>"$err"); then
        [ "$has_key" = "true" ] && break
    else
        why=$(explain "read the function app's keys" "Function app $AZURE_FUNCTION_APP_NAME")
        if [ -n "$why" ]; then
            echo "$why" >&2
            exit 1
        fi
    fi
    if [ "$attempt" -ge "$wait_attempts" ]; then
        echo "postdeploy: $AZURE_FUNCTION_APP_NAME has no blobs_extension key after $attempt tries." >&2
        echo "Check that the deployment succeeded and the app lists $HR_BLOB_FUNCTION_NAME" >&2
        echo "(az functionapp function list), $retry." >&2
        exit 1
    fi
    echo "postdeploy: waiting for the Functions host to create the blob extension key ($attempt/$wait_attempts)"
    attempt=$((attempt + 1))
    sleep "$wait_seconds"
done

# 5. The subscription itself: the same deployment every time, so a repeat changes nothing.
echo "postdeploy: creating or updating the Event Grid subscription for $HR_INCOMING_CONTAINER"
if ! az deployment group create "$@" \
    --resource-group "$AZURE_RESOURCE_GROUP" \
    --name hrupload-eventgrid-subscription \
    --template-file "$root/infra/app/eventgrid-subscription.bicep" \
    --parameters \
        systemTopicName="$topic" \
        functionAppName="$AZURE_FUNCTION_APP_NAME" \
        functionName="$HR_BLOB_FUNCTION_NAME" \
        storageAccountName="$HR_STORAGE_ACCOUNT_NAME" \
        incomingContainerName="$HR_INCOMING_CONTAINER" \
        deadLetterContainerName="$HR_DEAD_LETTER_CONTAINER" \
    --output none 2>"$err"; then
    why=$(explain "deploy the Event Grid subscription" "A resource the subscription needs")
    # az's own error, with any webhook key in a URL masked.
    sed 's/code=[^&" ]*/code=***/g' "$err" >&2
    echo "${why:-postdeploy: the Event Grid subscription deployment failed (above); fix the cause, $retry.}" >&2
    exit 1
fi

echo "postdeploy: Event Grid delivers new files in $HR_INCOMING_CONTAINER to $HR_BLOB_FUNCTION_NAME."
